"""Checks that an input path names a regular file this process can read."""

from __future__ import annotations

import stat
from pathlib import Path

from ..errors import InputError


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a readable regular file; otherwise raise naming it.

    ``what`` names the role, e.g. ``"phenotype file"``. A missing path (or a link to
    nothing) "does not exist"; a folder, a FIFO or a device is refused before it is
    opened (opening a FIFO would block); a file the operating system refuses to open
    (permissions, a loop of links, a name too long) is refused with the system's reason.

    Raises
    ------
    kinmix.InputError
        Naming ``what``, ``path`` and the problem.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist.") from None
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read: {exc.strerror or exc}.") from exc
    if stat.S_ISDIR(mode):
        raise InputError(f"{what} {path} is a folder, not a file; give the file's path.")
    if not stat.S_ISREG(mode):
        raise InputError(
            f"{what} {path} is not a regular file (a pipe or a device); save it to a file."
        )
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise InputError(
            f"{what} {path} cannot be read: {exc.strerror or exc}; check its permissions."
        ) from exc
    return path


def read_bytes(path: Path, what: str) -> bytes:
    """The bytes of ``path``, or an :class:`~kinmix.InputError` naming it if reading fails."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read: {exc.strerror or exc}.") from exc
