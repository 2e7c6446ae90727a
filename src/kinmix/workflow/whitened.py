r"""A chromosome's null state without eigenvectors, for a group of one continuous trait.

The eigendecomposition route spends :math:`\approx 9n^3` flops per kinship, then a GEMM
with :math:`Q_0` per block. With one trait per group, less does the same job exactly:

1. the Householder tridiagonal form :math:`K = HTH^\top` (:math:`\tfrac43n^3`, no
   eigenvectors: :class:`kinmix.tridiagonal.TridiagonalKinship`) carries the null searches —
   δ by :class:`~kinmix.kernel.null_fit.NullFit`, h² and its standard error by
   :class:`~kinmix.lmm.LinearMixedModel` — at :math:`O(n)` per likelihood evaluation;
2. the Cholesky factor of :math:`(1-\delta)K + \delta I` (:math:`\tfrac13n^3`) whitens each
   block with a triangular solve, half the flops of the GEMM
   (:func:`kinmix.gwas.prepare_whitened_scan`).

The statistics equal those of the eigendecomposition route up to rounding. Several traits
sharing samples keep the eigendecomposition, whose one rotation serves them all; so do the
exact per-variant tests (``refit_delta``), the multi-trait test, non-normal traits and
kinships that are not of full rank.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from ..tridiagonal import TridiagonalKinship, cholesky_whitener
from .groups import TraitGroup
from .options import ScanOptions


def applies(options: ScanOptions, groups: list[TraitGroup], form: str) -> bool:
    """Whether every group of the scan takes the whitened route: one continuous trait per
    group, scanned alone at its null δ, on a dense kinship."""
    return (
        form == "upper"
        and options.trait_type == "continuous"
        and options.joint is None
        and not options.refit_delta
        and all(len(group.traits) == 1 for group in groups)
    )


def reduce_kinship(upper: np.ndarray) -> TridiagonalKinship:
    """The tridiagonal form of the kinship in ``upper`` (destroyed)."""
    return TridiagonalKinship.from_upper(upper)


def prepared_scan(
    job: Any, group: TraitGroup, kept: np.ndarray, delta: float, seconds: dict
) -> Any:
    """The group's :class:`kinmix.gwas.PreparedScan` whitened by the Cholesky factor of
    :math:`(1-\\delta)K + \\delta I`, factored in ``kept`` (K's upper triangle, destroyed)."""
    from ..gwas import prepare_whitened_scan

    began = time.perf_counter()
    factor, logdet = cholesky_whitener(kept, delta)
    seconds["cholesky"] = seconds.get("cholesky", 0.0) + time.perf_counter() - began
    E = job.E
    return prepare_whitened_scan(
        pd.DataFrame({group.traits[0]: job.Y[group.rows, group.columns[0]]}),
        job.X[group.rows],
        factor,
        logdet,
        delta,
        interaction=None if E is None else E.iloc[group.rows].reset_index(drop=True),
        test=job.options.test,
    )
