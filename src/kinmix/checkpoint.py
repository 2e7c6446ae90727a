"""Atomic writes, input fingerprints and a checkpoint store for restartable runs.

- :func:`write_atomically` writes a file under a temporary name in its folder, flushes it
  to disk and renames it into place, so a reader never sees a partial file and a killed
  writer leaves at most a hidden ``.*.tmp`` file behind (removed when the writer raises);
- :func:`make_durable` flushes files written without waiting for the disk, and
  :func:`start_writeback` lets the disk take them meanwhile;
- :func:`fingerprint_file` identifies an input by its size and a checksum;
- :class:`CheckpointStore` keeps finished intermediate results of a run under
  ``OUT/.kinmix/`` beside a manifest of the run's inputs and options; reopening the store
  with the same manifest resumes, with a different one it refuses and names what changed.
  Steps saved with ``batch=True`` (a scan's blocks) are committed together, several to a
  file, so that short steps do not each pay for a flush to disk (see
  :meth:`CheckpointStore.flush`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import sys
import time
import uuid
import zipfile
from collections.abc import Callable, Iterable
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError


def write_atomically(
    path: str | Path, write: Callable[[Path], None], *, durable: bool = True
) -> None:
    """Create or replace ``path`` all at once.

    Parameters
    ----------
    path : str or Path
        The file to write; its folder must exist.
    write : callable
        Called with a temporary path in the same folder; it must write the whole content
        there (it may open the path by name).
    durable : bool
        fsync the content before the rename (default). Without it the file is complete
        for every reader and survives a killed process, but not a crash of the machine
        until :func:`make_durable` is called on it — for several large files written in a
        row, whose flushes to disk then overlap the work done meanwhile.

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
        if durable:
            with tmp.open("rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def make_durable(paths: Iterable[str | Path]) -> None:
    """fsync the files ``paths`` (written with ``durable=False``), then their folders."""
    folders = set()
    for path in map(Path, paths):
        with path.open("rb+") as handle:
            os.fsync(handle.fileno())
        folders.add(path.parent)
    for folder in folders:
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


#: ``SYNC_FILE_RANGE_WRITE`` of Linux's ``sync_file_range``: start the write-out of the
#: dirty pages of a range, without waiting for it.
_SYNC_FILE_RANGE_WRITE = 2


@functools.cache
def _sync_file_range() -> Callable[..., int] | None:
    """Linux's ``sync_file_range`` from the C library (None elsewhere, or if absent)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


def start_writeback(paths: Iterable[str | Path]) -> None:
    """Ask the kernel to start writing the files ``paths`` to the disk now, and return
    without waiting (Linux: ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` on each whole file).

    A later :func:`make_durable` of the files then waits only for what is still in flight,
    so the disk writes them while the caller computes. This is a hint: nothing is
    promised until :func:`make_durable` returns, and elsewhere than on Linux (or if the
    kernel refuses) it does nothing and :func:`make_durable` writes them all.
    """
    function = _sync_file_range()
    if function is None:
        return
    for path in paths:
        handle = os.open(path, os.O_RDONLY)
        try:
            function(handle, 0, 0, _SYNC_FILE_RANGE_WRITE)  # a failure shows in the fsync
        finally:
            os.close(handle)


def _publish(path: Path, pieces: Iterable[bytes]) -> None:
    """Write ``pieces`` to ``path`` as :func:`write_atomically` does — temporary file,
    one fsync, rename — then fsync the folder, so that the rename survives a crash too."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            for piece in pieces:
                view = memoryview(piece)
                while view:
                    view = view[os.write(handle, view):]
            os.fsync(handle)
        finally:
            os.close(handle)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


#: Bytes hashed from each of the evenly spaced windows of a sampled fingerprint.
SAMPLE_WINDOW = 1 << 20
#: Number of windows of a sampled fingerprint (first and last bytes included).
SAMPLE_WINDOWS = 16
#: Name of the checkpoint folder inside an output folder.
FOLDER = ".kinmix"
#: Suffix of a stored frame (Arrow IPC).
FRAME_SUFFIX = ".arrow"
#: Suffix of stored arrays (NumPy ``.npz``).
ARRAYS_SUFFIX = ".npz"
#: Suffix of a file of several steps committed together (an uncompressed zip archive
#: whose members are named ``<key><suffix>``).
BATCH_SUFFIX = ".batch"
#: Keys of stored results: letters, digits, dot, dash and underscore.
KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
#: Default of ``commit_seconds``: steps saved with ``batch=True`` wait in memory until at
#: least this long has passed since the last commit.
COMMIT_SECONDS = 1.0
#: Default of ``commit_bytes``: a commit happens as soon as this many bytes wait.
COMMIT_BYTES = 64 << 20


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
    reused by a later run with the same manifest. Every file is written atomically
    (temporary file, fsync, rename, fsync of the folder), so a killed run leaves only
    complete results (and at most a hidden temporary file).

    Results saved with ``batch=True`` are *committed* in groups: they wait in memory
    (readable through :meth:`has` and the loaders) until a save finds that
    ``commit_seconds`` have passed since the last commit or that ``commit_bytes`` wait,
    or until :meth:`flush`; then they are written together, one file (one fsync) for all
    of them. A run killed between commits loses the results waiting, at most about
    ``commit_seconds`` of work, which a resumed run computes again; a result is never
    half-stored.

    Attributes
    ----------
    path : Path
        The ``.kinmix`` folder.
    resumed : bool
        Whether the store existed with the same manifest (results of an earlier run may be
        present); False for a new or restarted store.
    commit_seconds : float
        Shortest time between two commits of batched results (0: each is committed
        when saved).
    commit_bytes : int
        Most bytes of batched results held in memory before a commit.
    """

    def __init__(
        self,
        path: Path,
        resumed: bool,
        *,
        commit_seconds: float | None = None,
        commit_bytes: int | None = None,
    ) -> None:
        self.path = path
        self.resumed = resumed
        self.commit_seconds = COMMIT_SECONDS if commit_seconds is None else commit_seconds
        self.commit_bytes = COMMIT_BYTES if commit_bytes is None else commit_bytes
        self._waiting: dict[str, bytes] = {}
        self._batched = self._read_batches()
        self._last_commit = time.monotonic()

    @classmethod
    def open(cls, out_dir: str | Path, *, manifest: dict, restart: bool = False,
             commit_seconds: float | None = None,
             commit_bytes: int | None = None) -> CheckpointStore:
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
        commit_seconds, commit_bytes : optional
            When batched results are committed (see the class); default
            ``COMMIT_SECONDS`` (1 s) and ``COMMIT_BYTES`` (64 MiB), read when the store
            opens.

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
        policy = {"commit_seconds": commit_seconds, "commit_bytes": commit_bytes}
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
            return cls(path, resumed=True, **policy)
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
        return cls(path, resumed=False, **policy)

    def _file(self, key: str, suffix: str) -> Path:
        if not KEY_PATTERN.fullmatch(key):
            raise InputError(
                f"checkpoint key {key!r} must be letters, digits, '.', '-' or '_' "
                "(starting with a letter or digit)."
            )
        return self.path / f"{key}{suffix}"

    def _read_batches(self) -> dict[str, Path]:
        """Member name → batch file, for every readable batch file of the folder (one
        that cannot be read was never completely written: its results count as absent)."""
        members: dict[str, Path] = {}
        for batch in sorted(self.path.glob(f"*{BATCH_SUFFIX}")):
            try:
                with zipfile.ZipFile(batch) as archive:
                    members.update(dict.fromkeys(archive.namelist(), batch))
            except (OSError, zipfile.BadZipFile):
                continue
        return members

    def _stored(self, key: str, suffix: str) -> bool:
        name = self._file(key, suffix).name
        return name in self._waiting or name in self._batched or (self.path / name).is_file()

    def has(self, key: str) -> bool:
        """Whether a frame or arrays are stored (or wait to be committed) under ``key``."""
        return self._stored(key, FRAME_SUFFIX) or self._stored(key, ARRAYS_SUFFIX)

    def save_frame(self, key: str, frame: pd.DataFrame, *, batch: bool = False) -> None:
        """Store a DataFrame under ``key``: an uncompressed Arrow IPC (Feather v2) file,
        index included — the cheapest to write and read back for a scan's blocks, which
        are stored once and read once. With ``batch``, it is committed with others (see
        the class); otherwise at once, atomically."""
        import pyarrow as pa
        from pyarrow import feather

        sink = pa.BufferOutputStream()
        feather.write_feather(frame, sink, compression="uncompressed")
        self._save(self._file(key, FRAME_SUFFIX).name, sink.getvalue(), batch)

    def save_arrays(self, key: str, /, *, batch: bool = False, **arrays: np.ndarray) -> None:
        """Store named arrays (``.npz``) under ``key`` (``batch`` as for
        :meth:`save_frame`; no array may be named ``batch``)."""
        buffer = BytesIO()
        np.savez(buffer, **arrays)
        self._save(self._file(key, ARRAYS_SUFFIX).name, buffer.getbuffer(), batch)

    def _save(self, name: str, data: Any, batch: bool) -> None:
        if not batch:
            _publish(self.path / name, [data])
            return
        self._waiting[name] = bytes(data)
        waiting = sum(len(piece) for piece in self._waiting.values())
        if (time.monotonic() - self._last_commit >= self.commit_seconds
                or waiting >= self.commit_bytes):
            self.flush()

    def flush(self) -> None:
        """Commit the batched results that wait, if any: one of them as its own file,
        several as one batch file (an uncompressed zip archive named after its first
        key), written atomically."""
        if not self._waiting:
            return
        if len(self._waiting) == 1:
            [(name, data)] = self._waiting.items()
            _publish(self.path / name, [data])
        else:
            buffer = BytesIO()
            with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
                for name, data in self._waiting.items():
                    archive.writestr(zipfile.ZipInfo(name), data)
            first = Path(next(iter(self._waiting))).stem  # a key is committed only once
            batch = self.path / f"batch-{first}{BATCH_SUFFIX}"
            _publish(batch, [buffer.getbuffer()])
            self._batched.update(dict.fromkeys(self._waiting, batch))
        self._waiting.clear()
        self._last_commit = time.monotonic()

    def _read(self, key: str, suffix: str, what: str) -> bytes | Path:
        """The bytes of a result that waits or sits in a batch, or the path of its file."""
        name = self._file(key, suffix).name
        if name in self._waiting:
            return self._waiting[name]
        if name in self._batched:
            with zipfile.ZipFile(self._batched[name]) as archive:
                return archive.read(name)
        path = self.path / name
        if not path.is_file():
            raise InputError(f"no checkpoint {what} {key!r} in {self.path}.")
        return path

    def load_frame(self, key: str) -> pd.DataFrame:
        """The DataFrame stored under ``key``.

        Raises
        ------
        kinmix.InputError
            If no frame is stored under ``key``.
        """
        import pyarrow as pa
        from pyarrow import feather

        source = self._read(key, FRAME_SUFFIX, "frame")
        if isinstance(source, bytes):
            source = pa.BufferReader(source)
        return feather.read_table(source).to_pandas()

    def load_arrays(self, key: str) -> dict[str, np.ndarray]:
        """The arrays stored under ``key``, by name.

        Raises
        ------
        kinmix.InputError
            If no arrays are stored under ``key``.
        """
        source = self._read(key, ARRAYS_SUFFIX, "arrays")
        if isinstance(source, bytes):
            source = BytesIO(source)
        with np.load(source, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
