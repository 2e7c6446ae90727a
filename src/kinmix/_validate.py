"""Validation of user input at the public boundary.

Each helper converts one argument to a float64 numpy array and raises
:class:`kinmix.errors.InputError` naming the argument when it is unusable. Internal code
calls these once, at the entry point, and trusts its arguments afterwards.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .constants import COLLINEARITY_RTOL, MAX_ABS_VALUE, RESIDUAL_SHARE_MIN
from .errors import InputError


def _to_numpy(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "compute") and not isinstance(value, np.ndarray):
        value = value.compute()
    if hasattr(value, "to_numpy"):
        value = value.to_numpy()
    try:
        array = np.asarray(value)
        if array.dtype.kind == "c":
            raise InputError(
                f"{name} is complex; kinmix models real numbers. Pass numpy.real({name}) "
                "if the imaginary part is meant to be dropped."
            )
        return check_magnitude(array.astype(np.float64, copy=False), name)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{name} must be numeric; could not convert it: {exc}") from exc


def check_magnitude(array: np.ndarray, name: str) -> np.ndarray:
    """Raise if a finite entry of ``array`` is so large that its square overflows."""
    if not array.size:
        return array
    # The common case in two passes without temporaries; NaN or inf fall through.
    if -MAX_ABS_VALUE <= float(array.min()) and float(array.max()) <= MAX_ABS_VALUE:
        return array
    finite = np.abs(array[np.isfinite(array)])
    if finite.size and float(finite.max()) > MAX_ABS_VALUE:
        raise InputError(
            f"{name} holds a value of magnitude {float(finite.max()):.3g}, beyond "
            f"{MAX_ABS_VALUE:.0e}: its square overflows float64. Rescale {name} first."
        )
    return array


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


def check_full_column_rank(X: np.ndarray, name: str) -> None:
    r"""Raise if the columns of ``X`` are linearly dependent.

    The test is scale-invariant and is the kernel's: with the columns scaled to unit norm
    and :math:`X = QR`, column j is collinear with the ones before it when
    :math:`R_{jj}^2`, the share of its squared norm that they leave unexplained, is at most
    ``COLLINEARITY_RTOL``. A column of zeros is collinear with anything.
    """
    if X.shape[1] == 0 or X.shape[0] == 0:
        return
    norms = np.sqrt(np.einsum("ij,ij->j", X, X))
    unit = X / np.where(norms > 0, norms, 1.0)
    unexplained = np.diag(np.linalg.qr(unit, mode="r")) ** 2
    rank = int(np.sum(unexplained > COLLINEARITY_RTOL))
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


def as_scalar(
    value: Any,
    name: str,
    *,
    lower: float | None = None,
    upper: float | None = None,
    open_lower: bool = False,
) -> float:
    """Return ``value`` as a finite float in [lower, upper] (``(lower, upper]`` when
    ``open_lower``), or raise :class:`InputError` naming the option."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise InputError(f"{name} must be a number; got {value!r} of type {type(value).__name__}.")
    number = float(value)
    below = lower is not None and (number <= lower if open_lower else number < lower)
    above = upper is not None and number > upper
    if not np.isfinite(number) or below or above:
        low = "-inf" if lower is None else f"{lower:g}"
        high = "inf" if upper is None else f"{upper:g}"
        interval = f"{'(' if open_lower or lower is None else '['}{low}, {high}]"
        raise InputError(f"{name} must be a finite number in {interval}; got {value!r}.")
    return number


def check_samples(
    n: int, c: int, name: str = "y", *, tested: int = 0, tested_name: str = "", purpose: str = ""
) -> None:
    r"""Raise unless ``n`` samples leave a residual to a model with ``c`` covariates and
    ``tested`` tested columns: :math:`n \ge c + q + 1`.

    This is kinmix's one "samples vs covariates" check (the null models, the scanners and
    :func:`kinmix.scan`). ``tested_name`` names the matrix of the tested columns in the
    message and ``purpose`` ends it (" to test a variant"). The Hail-compatible
    :class:`kinmix.lmm.LinearMixedModel` words the same rule as Hail does, and the
    multi-trait :class:`kinmix.lmm.Kron2Sum` counts values (n·p) against effects (c·q).
    """
    needed = c + tested + 1
    if n < needed:
        tested_part = f" and {tested_name} has {tested} column(s)" if tested_name else ""
        raise InputError(
            f"{name} has {n} samples but X has {c} covariates{tested_part}: at least {needed} "
            f"samples are needed{purpose}."
        )


def check_not_fitted_exactly(y: np.ndarray, X: np.ndarray, name: str = "y") -> None:
    r"""Raise if ``y`` lies in the column span of ``X`` (a constant ``y`` with an intercept,
    or ``y = Xb``) to float64 precision: the residual variance, and so the scale, would be 0.

    The test is relative: the residual of the least-squares fit of ``y`` on ``X`` holds at
    most a share ``RESIDUAL_SHARE_MIN`` of :math:`y^\top y`. The kernel forms residual sums
    of squares as differences of quadratic forms, with a rounding error of about
    :math:`\epsilon\, y^\top y`; below that share they carry no correct digit.
    """
    yy = float(y @ y)
    if X.shape[1]:
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)
        rss = float(np.sum((y - X @ coef) ** 2))
    else:
        rss = yy
    if rss <= RESIDUAL_SHARE_MIN * yy or yy == 0.0:
        raise InputError(
            f"{name} is fitted exactly by X (constant, or a linear combination of the "
            f"covariates, up to a residual share of {rss / yy if yy else 0.0:.2g} of its sum "
            "of squares): its residual variance is 0 to float64 precision and no variance "
            "component can be estimated. Drop this trait, or the covariate that reproduces it"
            ", or centre it on its fitted value first."
        )
