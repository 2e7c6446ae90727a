r"""Resumable runs: each finished step of a scan is stored, and reused by the next run.

A run is a sequence of keyed steps (the kinship pass, each chromosome's null state, each
block of variants). :class:`ResumableRun` loads a step's result when the checkpoint store
(:class:`kinmix.checkpoint.CheckpointStore`, under ``OUT/.kinmix/``) holds it, and
otherwise computes and stores it, atomically, before going on; it counts both, so that a
caller can report what a resumed run did not recompute. Without a store it only computes.
Blocks, which are many and may each take little time, are committed in batches (see the
store); the other steps at once. A caller calls :meth:`ResumableRun.flush` once its
last block is saved.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from .._killpoints import reached
from ..errors import OutputError

#: Number of evenly spaced column blocks hashed in a sampled fingerprint of an array.
SAMPLED_BLOCKS = 16
#: At most this many bytes of an array are hashed per block of a sampled fingerprint.
SAMPLED_BLOCK_BYTES = 1 << 18
#: Kinds of steps committed in batches rather than one by one.
BATCHED_KINDS = frozenset({"block"})


def fingerprint_array(a: Any, *, sampled: bool = False) -> dict:
    """Shape, dtype and SHA-256 of an array's bytes (C order).

    With ``sampled``, only ``SAMPLED_BLOCKS`` evenly spaced blocks of columns of a 2-D
    array are hashed (for genotypes too large to read twice), the first and last columns
    included: each block is a quarter of its share of the columns, but at most
    ``SAMPLED_BLOCK_BYTES`` (and at least one column), so that the cost of a fingerprint
    stays bounded (at most 4 MiB hashed for columns of up to 256 KiB) while the scan it
    guards grows with the number of columns. The shape is always part of the
    fingerprint. ``None`` fingerprints as ``None``.
    """
    if a is None:
        return {"value": None}
    if isinstance(a, pd.DataFrame | pd.Series):
        a = a.to_numpy()
    digest = hashlib.sha256()
    shape = tuple(int(s) for s in np.shape(a))
    dtype = str(getattr(a, "dtype", np.asarray(a).dtype))
    if sampled and len(shape) == 2 and shape[1] > SAMPLED_BLOCKS:
        column_bytes = max(1, shape[0] * np.dtype(dtype).itemsize)
        width = max(1, min(shape[1] // (4 * SAMPLED_BLOCKS), SAMPLED_BLOCK_BYTES // column_bytes))
        starts = np.linspace(0, shape[1] - width, SAMPLED_BLOCKS).astype(np.int64)
        for start in starts:
            part = np.ascontiguousarray(np.asarray(a[:, int(start) : int(start) + width]))
            digest.update(part)
        key = "sampled_sha256"
    else:
        digest.update(np.ascontiguousarray(np.asarray(a)))
        key = "sha256"
    return {"shape": list(shape), "dtype": dtype, key: digest.hexdigest()}


class ResumableRun:
    """The steps of one run, each loaded from ``store`` when present, else computed and saved.

    Parameters
    ----------
    store : kinmix.checkpoint.CheckpointStore or None
        Where finished steps live; None for a run without checkpoints.

    Attributes
    ----------
    computed, reloaded : collections.Counter
        Steps computed by this run and steps taken from the store, by kind (``kinship``,
        ``null``, ``block``, ...).
    """

    def __init__(self, store: Any = None) -> None:
        self.store = store
        self.computed: Counter = Counter()
        self.reloaded: Counter = Counter()

    @property
    def resumed(self) -> bool:
        """Whether the store held results of an earlier run with the same manifest."""
        return bool(self.store is not None and self.store.resumed)

    def has(self, key: str) -> bool:
        """Whether step ``key`` is stored."""
        return self.store is not None and self.store.has(key)

    def arrays(
        self, key: str, kind: str, compute: Callable[[], dict[str, np.ndarray]]
    ) -> dict[str, np.ndarray]:
        """The named arrays of step ``key``: reloaded, or ``compute()``-d and stored."""
        if self.has(key):
            self.reloaded[kind] += 1
            return self.store.load_arrays(key)
        arrays = compute()
        self.save_arrays(key, kind, arrays)
        return arrays

    def frame(self, key: str, kind: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """The table of step ``key``: reloaded, or ``compute()``-d and stored."""
        if self.has(key):
            self.reloaded[kind] += 1
            return self.store.load_frame(key)
        frame = compute()
        self.save_frame(key, kind, frame)
        return frame

    def save_arrays(
        self,
        key: str,
        kind: str,
        arrays: dict[str, np.ndarray],
        *,
        after: Callable[[], None] | None = None,
    ) -> None:
        """Store step ``key``'s arrays (computed here or on a worker), then count it.

        ``after`` is called first, with a store: the flush to disk of files the step
        names (:func:`kinmix.checkpoint.make_durable`), whose failure (an ``OSError``)
        is reported as a failed write of the step."""
        if self.store is not None:
            batch = kind in BATCHED_KINDS

            def save() -> None:
                if after is not None:
                    after()
                self.store.save_arrays(key, batch=batch, **arrays)

            self._write(save)
        self.computed[kind] += 1
        reached(kind)

    def save_frame(self, key: str, kind: str, frame: pd.DataFrame) -> None:
        """Store step ``key``'s table (computed here or on a worker), then count it."""
        if self.store is not None:
            batch = kind in BATCHED_KINDS
            self._write(lambda: self.store.save_frame(key, frame, batch=batch))
        self.computed[kind] += 1
        reached(kind)

    def flush(self) -> None:
        """Commit the blocks that wait in memory (see
        :class:`kinmix.checkpoint.CheckpointStore`); call it after the last block."""
        if self.store is not None:
            self._write(self.store.flush)

    def _write(self, save: Callable[[], None]) -> None:
        try:
            save()
        except OSError as exc:
            raise OutputError(
                f"cannot write a checkpoint in {self.store.path}: {exc.strerror or exc}. "
                "Free space (or fix the permissions) there and run the same command again: "
                "it resumes from the last finished step."
            ) from exc

    def load_arrays(self, key: str, kind: str) -> dict[str, np.ndarray]:
        """The stored arrays of step ``key`` (counted as reloaded)."""
        self.reloaded[kind] += 1
        return self.store.load_arrays(key)

    def load_frame(self, key: str, kind: str) -> pd.DataFrame:
        """The stored table of step ``key`` (counted as reloaded)."""
        self.reloaded[kind] += 1
        return self.store.load_frame(key)

    def count_reloaded(self, kind: str) -> None:
        """Count a stored step of ``kind`` as reloaded (one its caller reads back later)."""
        self.reloaded[kind] += 1

    def report(self) -> dict:
        """``{"resumed", "computed", "reloaded"}`` for a run's summary."""
        return {
            "resumed": self.resumed,
            "computed": dict(sorted(self.computed.items())),
            "reloaded": dict(sorted(self.reloaded.items())),
        }
