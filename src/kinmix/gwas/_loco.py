r"""Leave-one-chromosome-out scans of in-memory genotypes, in-process or on Dask.

The kinship of chromosome :math:`c`'s tests is built from the other chromosomes,
:math:`K_{-c} = (S - S_c)/(m - m_c)`, with :math:`S = \sum_c S_c` the Gram matrix
:math:`ZZ^\top` of all m standardised variants and :math:`S_c` that of the :math:`m_c` on
:math:`c`. :math:`S` is computed once; each chromosome's null task downdates it, takes the
eigendecomposition of :math:`K_{-c}` and fits the null models; its blocks are then tested
against that state (:func:`kinmix.distributed.run_chromosomes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._killpoints import reached
from ..distributed import run_chromosomes
from ..errors import InputError
from ..grm import standardize
from ..linalg import economic_qs
from ._block import BlockResult, ScanState, scan_genotypes
from ._driver import _table
from ._inputs import validate
from ._null import fit_nulls


@dataclass(frozen=True)
class LocoInputs:
    """What every LOCO task reads: genotypes (n, m), chromosome labels (m,), traits (n, P),
    covariates (n, c), the Gram ``S`` (n, n) of the ``m`` kinship variants, and the null's
    fitting criterion."""

    G: np.ndarray
    chromosomes: np.ndarray
    Y: np.ndarray
    X: np.ndarray
    S: np.ndarray
    m: int
    restricted: bool


def gram(G: np.ndarray, block_size: int) -> tuple[np.ndarray, int]:
    r""":math:`S = ZZ^\top` of the standardised non-constant columns of ``G``, and their
    number, block by block."""
    n = G.shape[0]
    S, m = np.zeros((n, n)), 0
    for start in range(0, G.shape[1], block_size):
        Z, keep = standardize(G[:, start : start + block_size])
        S += Z @ Z.T
        m += int(keep.sum())
    return S, m


def loco_null(inputs: LocoInputs, chromosome: Any) -> ScanState:
    r"""The null state of chromosome ``chromosome``'s tests: :math:`K_{-c}`, its
    eigendecomposition and one null fit per trait (one task)."""
    S_c, m_c = gram(inputs.G[:, inputs.chromosomes == chromosome], 4096)
    if inputs.m - m_c <= 0:
        raise InputError(
            f"chromosome {chromosome!r} holds every kinship variant: LOCO needs variants "
            "on at least two chromosomes."
        )
    (Q0, _), S0 = economic_qs((inputs.S - S_c) / (inputs.m - m_c))
    return fit_nulls(
        inputs.Y,
        inputs.X,
        np.ascontiguousarray(Q0),
        S0,
        restricted=inputs.restricted,
        environments=None,
    )


def loco_block(inputs: LocoInputs, state: ScanState, columns: tuple[int, int]) -> BlockResult:
    """Test columns ``start:stop`` of the genotypes against a chromosome's null (one task)."""
    start, stop = columns
    result = scan_genotypes(state, inputs.G[:, start:stop])
    reached("task")
    return result


def loco_scan(
    G: Any,
    y: Any,
    X: Any | None = None,
    *,
    chromosomes: Sequence,
    block_size: int | None = None,
    restricted: bool = False,
    client: Any = None,
) -> pd.DataFrame:
    r"""Association scan where each chromosome is tested with the kinship of the others.

    Parameters
    ----------
    G : array_like, shape (n, m)
        Dosages (NaN = missing); also the source of the kinship, built from its
        standardised non-constant columns.
    y : array_like, shape (n,) or (n, P)
        Trait(s).
    X : array_like, shape (n, c), optional
        Covariates (default an intercept).
    chromosomes : sequence of length m
        Chromosome of each column of ``G``; each chromosome's columns must be contiguous.
    block_size : int, optional
        Variants per task (default as :func:`kinmix.scan`).
    restricted : bool
        Fit the null δ by REML instead of ML.
    client : distributed.Client, optional
        Run the chromosomes' null tasks and the block tasks on this cluster
        (:func:`kinmix.distributed.run_chromosomes`); default in-process.

    Returns
    -------
    pandas.DataFrame
        :func:`kinmix.scan`'s table, variants in the order of ``G``.

    Notes
    -----
    The Gram :math:`S` costs :math:`O(n^2 m)` once; each chromosome then costs its own
    :math:`O(n^2 m_c)` downdate and an :math:`O(n^3)` eigendecomposition, so LOCO adds
    :math:`O(C n^3)` for C chromosomes to the scan's :math:`O(nkm)`.
    """
    inputs = validate(G, y, X, None, None, None, None, block_size)
    labels = np.asarray(chromosomes)
    m = inputs.G.shape[1]
    if labels.shape != (m,):
        raise InputError(f"chromosomes has {labels.shape[0]} entries but G has {m} columns.")
    order = list(dict.fromkeys(labels.tolist()))
    if len(order) < 2:
        raise InputError("LOCO needs variants on at least two chromosomes.")
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    if len(starts) != len(order):
        raise InputError("the columns of each chromosome must be contiguous in G.")
    Gd = np.asarray(inputs.G, dtype=np.float64)
    S, m_kin = gram(Gd, inputs.block_size)
    shared = LocoInputs(Gd, labels, inputs.Y, inputs.X, S, m_kin, restricted)
    blocks = {}
    for c in order:
        first, last = np.flatnonzero(labels == c)[[0, -1]]
        blocks[c] = [
            ((start, min(start + inputs.block_size, last + 1)),) * 2
            for start in range(first, last + 1, inputs.block_size)
        ]
    results = dict(run_chromosomes(loco_null, loco_block, shared, blocks, client=client))
    return _table([results[key] for jobs in blocks.values() for key, _ in jobs], inputs)
