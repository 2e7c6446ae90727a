"""NumPy-or-Dask helpers shared by the stages: backend choice, concatenation, gathering."""

from __future__ import annotations

from typing import Any

import numpy as np

from .cg import DaskBackend, NumpyBackend
from .operator import GenotypeGRM


def backend(op: GenotypeGRM) -> NumpyBackend | DaskBackend:
    """The CG backend matching the operator's codes."""
    return DaskBackend() if op.distributed else NumpyBackend()


def concat(op: GenotypeGRM, parts: list) -> Any:
    """Column-wise concatenation, lazy when the operator is distributed."""
    if op.distributed:
        import dask.array as da

        return da.concatenate([da.asarray(p) for p in parts], axis=1)
    return np.concatenate(parts, axis=1)


def fetch(op: GenotypeGRM, arrays: list) -> list[np.ndarray]:
    """Small results as NumPy arrays (one ``dask.compute`` for all of them)."""
    if op.distributed:
        import dask

        return [np.asarray(a) for a in dask.compute(*arrays)]
    return [np.asarray(a) for a in arrays]
