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

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError


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


#: Bytes hashed from each of the evenly spaced windows of a sampled fingerprint.
SAMPLE_WINDOW = 1 << 20
#: Number of windows of a sampled fingerprint (first and last bytes included).
SAMPLE_WINDOWS = 16
#: Name of the checkpoint folder inside an output folder.
FOLDER = ".kinmix"
#: Suffix of a stored frame (Arrow IPC).
FRAME_SUFFIX = ".arrow"
#: Keys of stored results: letters, digits, dot, dash and underscore.
KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def fingerprint_file(path: str | Path, *, full: bool) -> dict:
    """Identify a file's content by its size and a SHA-256 checksum.

    Parameters
    ----------
    path : str or Path
        The file.
    full : bool
        True: ``sha256`` of the whole file. False: ``sampled_sha256``, the SHA-256 of
        ``SAMPLE_WINDOWS`` evenly spaced 1 MiB windows (the first and last included) and of
        the size, which reads at most 16 MiB of a file of any size; it detects any change
        of size and any change inside the windows (files smaller than the windows are
        hashed whole either way).

    Returns
    -------
    dict
        ``{"size": bytes, "sha256": hex}`` or ``{"size": bytes, "sampled_sha256": hex}``.

    Raises
    ------
    kinmix.InputError
        If the file does not exist or cannot be read.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            if full or size <= SAMPLE_WINDOW * SAMPLE_WINDOWS:
                for chunk in iter(lambda: handle.read(SAMPLE_WINDOW), b""):
                    digest.update(chunk)
                return {"size": size, "sha256": digest.hexdigest()}
            digest.update(str(size).encode())
            for start in np.linspace(0, size - SAMPLE_WINDOW, SAMPLE_WINDOWS).astype(np.int64):
                handle.seek(int(start))
                digest.update(handle.read(SAMPLE_WINDOW))
    except OSError as exc:
        raise InputError(f"cannot read {path} to fingerprint it: {exc}") from exc
    return {"size": size, "sampled_sha256": digest.hexdigest()}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one dict of dotted paths (other values are leaves)."""
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: value}


def _differences(old: dict, new: dict) -> list[str]:
    """One line per dotted path whose value differs between two manifests."""
    before, after = _flatten(old), _flatten(new)
    lines = []
    for key in sorted(set(before) | set(after)):
        if before.get(key, _ABSENT) != after.get(key, _ABSENT):
            was = "absent" if key not in before else repr(before[key])
            now = "absent" if key not in after else repr(after[key])
            lines.append(f"{key}: {was} -> {now}")
    return lines


_ABSENT = object()


class CheckpointStore:
    """Finished intermediate results of a run, kept under ``OUT/.kinmix/``.

    Open it with :meth:`open`. A store belongs to one manifest (the run's input
    fingerprints, options and kinmix version, as JSON); results saved under a key are
    reused by a later run with the same manifest. Every file is written atomically, so a
    killed run leaves only complete results (and at most a hidden temporary file).

    Attributes
    ----------
    path : Path
        The ``.kinmix`` folder.
    resumed : bool
        Whether the store existed with the same manifest (results of an earlier run may be
        present); False for a new or restarted store.
    """

    def __init__(self, path: Path, resumed: bool) -> None:
        self.path = path
        self.resumed = resumed

    @classmethod
    def open(cls, out_dir: str | Path, *, manifest: dict,
             restart: bool = False) -> CheckpointStore:
        """Open (or create) the checkpoint store of output folder ``out_dir``.

        Parameters
        ----------
        out_dir : str or Path
            The run's output folder (created if absent).
        manifest : dict
            JSON-serialisable description of the run: input fingerprints
            (:func:`fingerprint_file`), options, kinmix version.
        restart : bool
            Discard any stored results and start afresh with ``manifest``.

        Raises
        ------
        kinmix.InputError
            If ``manifest`` is not JSON-serialisable, the folder cannot be created, or a
            store exists for a different manifest and ``restart`` is False (the message
            lists every changed entry as ``dotted.key: old -> new``).
        """
        try:
            normalised = json.loads(json.dumps(manifest, sort_keys=True))
        except (TypeError, ValueError) as exc:
            raise InputError(f"the checkpoint manifest must be JSON-serialisable: {exc}") from exc
        path = Path(out_dir) / FOLDER
        manifest_file = path / "manifest.json"
        try:
            if restart and path.exists():
                shutil.rmtree(path)
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the checkpoint folder {path}: {exc}") from exc
        stored = None
        if manifest_file.is_file():
            try:
                stored = json.loads(manifest_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                stored = None  # unreadable: treated as no store
        if stored == normalised:
            return cls(path, resumed=True)
        if stored is not None:
            changes = _differences(stored, normalised)
            raise InputError(
                f"the output folder {out_dir} holds checkpoints of a different run; changed: "
                + "; ".join(changes[:8]) + (f"; ... ({len(changes)} in all)"
                                            if len(changes) > 8 else "")
                + ". Pass restart=True (--restart) to discard them, or choose another folder."
            )
        for stale in path.iterdir():  # results without a readable manifest are not trusted
            if stale.is_file():
                stale.unlink()
        text = json.dumps(normalised, sort_keys=True, indent=1)
        write_atomically(manifest_file, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        return cls(path, resumed=False)

    def _file(self, key: str, suffix: str) -> Path:
        if not KEY_PATTERN.fullmatch(key):
            raise InputError(
                f"checkpoint key {key!r} must be letters, digits, '.', '-' or '_' "
                "(starting with a letter or digit)."
            )
        return self.path / f"{key}{suffix}"

    def has(self, key: str) -> bool:
        """Whether a frame or arrays are stored under ``key``."""
        return self._file(key, FRAME_SUFFIX).is_file() or self._file(key, ".npz").is_file()

    def save_frame(self, key: str, frame: pd.DataFrame) -> None:
        """Store a DataFrame under ``key``, atomically: an uncompressed Arrow IPC (Feather
        v2) file, index included — the cheapest to write and read back for a scan's
        blocks, which are stored once and read once."""
        from pyarrow import feather

        write_atomically(
            self._file(key, FRAME_SUFFIX),
            lambda tmp: feather.write_feather(frame, tmp, compression="uncompressed"),
        )

    def load_frame(self, key: str) -> pd.DataFrame:
        """The DataFrame stored under ``key``.

        Raises
        ------
        kinmix.InputError
            If no frame is stored under ``key``.
        """
        from pyarrow import feather

        path = self._file(key, FRAME_SUFFIX)
        if not path.is_file():
            raise InputError(f"no checkpoint frame {key!r} in {self.path}.")
        return feather.read_table(path).to_pandas()

    def save_arrays(self, key: str, **arrays: np.ndarray) -> None:
        """Store named arrays (``.npz``) under ``key``, atomically."""
        def write(tmp: Path) -> None:
            with tmp.open("wb") as handle:
                np.savez(handle, **arrays)

        write_atomically(self._file(key, ".npz"), write)

    def load_arrays(self, key: str) -> dict[str, np.ndarray]:
        """The arrays stored under ``key``, by name.

        Raises
        ------
        kinmix.InputError
            If no arrays are stored under ``key``.
        """
        path = self._file(key, ".npz")
        if not path.is_file():
            raise InputError(f"no checkpoint arrays {key!r} in {self.path}.")
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
