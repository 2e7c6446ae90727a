r"""Kinship (genetic relationship matrix) from genotypes.

Each variant is mean-imputed and standardised, :math:`z_{ij} = (g_{ij} - 2p_j)/\sigma_j`,
and :math:`K = ZZ^\top/m` over the m non-constant variants, so that the mean of the diagonal
is about 1. Constant variants carry no information and are skipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError


def standardize(G: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean-impute and standardise the columns of ``G`` (n×m, NaN = missing).

    Returns the standardised non-constant columns and the boolean mask of kept columns.
    """
    G = np.array(G, dtype=np.float64)
    if G.ndim != 2:
        raise InputError(f"G must be two-dimensional; got shape {G.shape}.")
    if np.isinf(G).any():
        raise InputError("G contains infinite values.")
    missing = np.isnan(G)
    counts = (~missing).sum(axis=0)
    means = np.where(counts > 0, np.nansum(G, axis=0) / np.maximum(counts, 1), 0.0)
    G[missing] = np.take(means, np.nonzero(missing)[1])
    G -= means
    std = np.sqrt((G * G).mean(axis=0))
    keep = std > 1e-12 * np.maximum(np.abs(means), 1.0)
    return G[:, keep] / std[keep], keep


def grm(G: Any, *, block_size: int = 4096) -> np.ndarray:
    r"""Genetic relationship matrix :math:`K = ZZ^\top/m` of standardised genotypes.

    Parameters
    ----------
    G : array_like, shape (n, m)
        Dosages (NaN = missing) or any object with a ``read(slice)`` method returning such
        blocks, e.g. :class:`kinmix.io.plink.PlinkGenotypes`.
    block_size : int
        Variants standardised at a time (memory is O(n·block_size + n²)).
    """
    if hasattr(G, "read") and not isinstance(G, np.ndarray):
        n, m = G.shape
        blocks = (G.read(slice(i, i + block_size)) for i in range(0, m, block_size))
    else:
        G = np.asarray(G, dtype=np.float64)
        if G.ndim != 2:
            raise InputError(f"G must be two-dimensional; got shape {G.shape}.")
        n, m = G.shape
        blocks = (G[:, i : i + block_size] for i in range(0, m, block_size))
    K = np.zeros((n, n))
    used = 0
    for block in blocks:
        Z, keep = standardize(block)
        K += Z @ Z.T
        used += int(keep.sum())
    if used == 0:
        raise InputError("G has no variant with non-zero variance: no kinship can be built.")
    return K / used
