"""Validation of the arguments of :func:`kinmix.scan`, once, at the public boundary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._validate import (
    as_matrix,
    check_full_column_rank,
    check_not_fitted_exactly,
    check_samples,
    is_dask_array,
)
from ..errors import InputError
from ..linalg import economic_qs, unpack_qs

#: Target number of float64 entries of one block of candidates (128 MiB).
BLOCK_ENTRIES = 2**24
#: Bounds of the default number of variants per block.
MIN_BLOCK, MAX_BLOCK = 16, 4096


@dataclass(frozen=True)
class Inputs:
    """Validated inputs: ``G`` stays lazy (NumPy, memmap or Dask); the rest is float64."""

    G: Any
    Y: np.ndarray
    X: np.ndarray
    Q0: np.ndarray
    S0: np.ndarray
    environments: np.ndarray | None
    variants: np.ndarray
    traits: list | None
    environment_names: list
    block_size: int | None


def _genotypes(G: Any, n: int) -> tuple[Any, list | None]:
    ids = None
    if isinstance(G, pd.DataFrame):
        ids = list(G.columns)
        G = G.to_numpy()
    elif not is_dask_array(G) and not isinstance(G, np.ndarray):
        try:
            G = np.asarray(G)
        except (TypeError, ValueError) as exc:
            raise InputError(f"G must be a numeric array; could not convert it: {exc}") from exc
    if G.dtype.kind not in "biuf":
        raise InputError(
            f"G must hold numbers (dosages 0, 1, 2 or NaN for missing); its dtype is {G.dtype}."
        )
    if G.ndim != 2:
        raise InputError(f"G must be two-dimensional (samples × variants); got shape {G.shape}.")
    if G.shape[0] != n:
        raise InputError(
            f"G has {G.shape[0]} rows but y has {n} samples: G must be samples × variants, "
            "with its rows in the order of y."
        )
    return G, ids


def _traits(y: Any) -> tuple[np.ndarray, list | None]:
    names = None
    if isinstance(y, pd.DataFrame):
        names = list(y.columns)
    elif isinstance(y, pd.Series):
        names = None
    elif np.ndim(y) == 2:
        names = list(range(np.shape(y)[1]))
    Y = as_matrix(y, "y")
    if Y.shape[1] == 0:
        raise InputError("y has no column: give at least one trait.")
    return Y, names


def _kinship(QS: Any, K: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    if QS is not None and K is not None:
        raise InputError("give either QS or K, not both (QS is the eigendecomposition of K).")
    if K is not None:
        K = as_matrix(K, "K", nrows=n)
        (Q0, _), S0 = economic_qs(K)
        return np.ascontiguousarray(Q0), S0
    if QS is not None:
        return unpack_qs(QS, n)
    return np.empty((n, 0)), np.empty(0)


def _environments(E: Any, n: int) -> tuple[np.ndarray | None, list]:
    if E is None:
        return None, []
    names = list(E.columns) if isinstance(E, pd.DataFrame) else None
    E = as_matrix(E, "interaction", nrows=n)
    if E.shape[1] == 0:
        raise InputError("interaction has no column: give at least one environment.")
    constant = np.flatnonzero(np.ptp(E, axis=0) == 0)
    if constant.size:
        raise InputError(
            f"interaction column {int(constant[0])} is constant: g⊙1 is the main effect g, "
            "which the interaction test already includes. Drop constant environments."
        )
    check_full_column_rank(E, "interaction")
    return E, names if names is not None else list(range(E.shape[1]))


def _block_size(block_size: int | None, G: Any, n: int, width: int) -> int | None:
    if block_size is not None:
        integral = (
            isinstance(block_size, (int, float, np.integer, np.floating))
            and not isinstance(block_size, (bool, np.bool_))
            and np.isfinite(block_size)
            and int(block_size) == block_size
        )
        if not integral or block_size <= 0:
            raise InputError(f"block_size must be a positive integer; got {block_size!r}.")
        return int(block_size)
    if is_dask_array(G):
        return None
    return int(np.clip(BLOCK_ENTRIES // max(n * width, 1), MIN_BLOCK, MAX_BLOCK))


def validate(
    G: Any,
    y: Any,
    X: Any,
    QS: Any,
    K: Any,
    interaction: Any,
    variants: Sequence | None,
    block_size: int | None,
) -> Inputs:
    """Check every argument of :func:`kinmix.scan`; errors name the argument."""
    Y, traits = _traits(y)
    n = Y.shape[0]
    X = np.ones((n, 1)) if X is None else as_matrix(X, "X", nrows=n)
    check_samples(n, X.shape[1], tested=1, purpose=" to test a variant")
    check_full_column_rank(X, "X")
    for j in range(Y.shape[1]):
        name = "y" if traits is None else f"y (trait {traits[j]})"
        check_not_fitted_exactly(Y[:, j], X, name)
    G, ids = _genotypes(G, n)
    m = G.shape[1]
    if variants is not None:
        if ids is not None:
            raise InputError("G is a DataFrame whose columns name the variants: omit variants.")
        ids = list(variants)
        if len(ids) != m:
            raise InputError(f"variants has {len(ids)} entries but G has {m} columns.")
    Q0, S0 = _kinship(QS, K, n)
    E, names = _environments(interaction, n)
    width = 1 if E is None else E.shape[1] + 1
    return Inputs(
        G=G,
        Y=Y,
        X=X,
        Q0=Q0,
        S0=S0,
        environments=E,
        variants=np.arange(m) if ids is None else np.asarray(ids),
        traits=traits,
        environment_names=names,
        block_size=_block_size(block_size, G, n, width),
    )
