"""Atomic writes, input fingerprints and a checkpoint store for restartable runs.

- :func:`write_atomically` writes a file under a temporary name in its folder, flushes it
  to disk and renames it into place, so a reader never sees a partial file and a killed
  writer leaves at most a hidden ``.*.tmp`` file behind (removed when the writer raises);
- :func:`fingerprint_file` identifies an input by its size and a checksum;
- :class:`CheckpointStore` keeps finished intermediate results of a run under
  ``OUT/.kinmix/`` beside a manifest of the run's inputs and options; reopening the store
  with the same manifest resumes, with a different one it refuses and names what changed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: str | Path, write: Callable[[Path], None]) -> None:
    """Create or replace ``path`` all at once.

    Parameters
    ----------
    path : str or Path
        The file to write; its folder must exist.
    write : callable
        Called with a temporary path in the same folder; it must write the whole content
        there (it may open the path by name).

    Notes
    -----
    The temporary file is fsynced, then :func:`os.replace` renames it to ``path``
    (atomic on POSIX within one file system). If ``write`` raises, the temporary file is
    removed and ``path`` keeps its old content, or stays absent.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        write(tmp)
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
