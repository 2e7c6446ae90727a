"""Validation of user input at the public boundary.

Each helper converts one argument to a float64 numpy array and raises
:class:`kinmix.errors.InputError` naming the argument when it is unusable. Internal code
calls these once, at the entry point, and trusts its arguments afterwards.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError


def _to_numpy(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "compute") and not isinstance(value, np.ndarray):
        value = value.compute()
    if hasattr(value, "to_numpy"):
        value = value.to_numpy()
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric; could not convert it: {exc}") from exc


def check_finite(array: np.ndarray, name: str) -> np.ndarray:
    """Raise if ``array`` holds NaN or infinite values, naming the first offending entry."""
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        where = ", ".join(str(int(i)) for i in bad)
        raise InputError(
            f"{name} contains {int((~finite).sum())} non-finite value(s) (NaN or inf); "
            f"the first is at index ({where}). Remove or impute them first."
        )
    return array


def as_vector(value: Any, name: str, size: int | None = None) -> np.ndarray:
    """Return ``value`` as a finite 1-D float64 array (an n×1 column is accepted)."""
    array = _to_numpy(value, name)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise InputError(f"{name} must be one-dimensional; got shape {array.shape}.")
    if size is not None and array.shape[0] != size:
        raise InputError(f"{name} has {array.shape[0]} entries but {size} were expected.")
    return check_finite(array, name)


def as_matrix(value: Any, name: str, nrows: int | None = None) -> np.ndarray:
    """Return ``value`` as a finite 2-D float64 array (a 1-D input becomes one column)."""
    array = _to_numpy(value, name)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise InputError(f"{name} must be two-dimensional; got shape {array.shape}.")
    if nrows is not None and array.shape[0] != nrows:
        raise InputError(
            f"{name} has {array.shape[0]} rows but {nrows} were expected (one row per sample)."
        )
    return check_finite(array, name)


def check_full_column_rank(X: np.ndarray, name: str, rtol: float = 1e-10) -> None:
    """Raise if the columns of ``X`` are linearly dependent (within ``rtol``)."""
    if X.shape[1] == 0:
        return
    singular_values = np.linalg.svd(X, compute_uv=False)
    rank = int((singular_values > rtol * singular_values[0]).sum()) if singular_values[0] else 0
    if rank < X.shape[1]:
        raise InputError(
            f"{name} has {X.shape[1]} columns but rank {rank}: some columns are linear "
            "combinations of others (a duplicated intercept or a constant column?). "
            "Drop the redundant columns."
        )


def is_dask_array(array: Any) -> bool:
    """Whether ``array`` is a Dask array (detected without importing Dask)."""
    return hasattr(array, "dask") and hasattr(array, "chunks")


def check_dimension(value: object, name: str) -> int:
    """Return ``value`` as a positive ``int`` or raise :class:`InputError` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)
