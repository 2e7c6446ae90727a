r"""The null models of a scan: one δ search per trait (:class:`kinmix.kernel.null_fit.NullFit`,
the search of :class:`~kinmix.lmm.LMM`), one shared state."""

from __future__ import annotations

import numpy as np

from ..kernel import association as _scan
from ..kernel import exact as _exact
from ..kernel.null_fit import NullFit
from ..linalg import RotatedDesign
from ._block import ScanState
from ._tests import TestPlan


def fit_nulls(
    Y: np.ndarray,
    X: np.ndarray,
    Q0: np.ndarray,
    S0: np.ndarray,
    *,
    restricted: bool,
    environments: np.ndarray | None,
    test: str = "lrt",
    refit_delta: bool = False,
    deltas: np.ndarray | None = None,
) -> ScanState:
    r"""Fit :math:`y_p \sim N(X\beta_p, s_p((1-\delta_p)K + \delta_p I))` for each trait.

    ``Y`` is (n, P); ``Q0`` (n, k) and ``S0`` (k,) the validated eigendecomposition of K
    (k = 0 for no kinship, then δ = 1). δ is fitted by ML (REML when ``restricted``); the
    scan then holds each :math:`\delta_p` fixed, so its covariance diagonal is
    :math:`((1-\delta_p)S_0 + \delta_p,\ \delta_p)` and the kernel's scale is the scale
    :math:`s` of :class:`~kinmix.lmm.LMM`. The traits are rotated together, one GEMM
    :math:`Q_0^\top [X, Y]`. Unless ``test`` is the default fixed-δ ``"lrt"``, the state
    carries a :class:`~kinmix.scan._tests.TestPlan` (with ``refit_delta``, the per-trait
    null quantities of :mod:`kinmix.lmm._exact`). Given ``deltas`` (P,), those of an
    earlier fit (reloaded from a checkpoint), nothing is fitted and the state is rebuilt
    from them, bit for bit; the state's ``deltas`` are the δ used.
    """
    n, k = Q0.shape
    QX, QY = Q0.T @ X, Q0.T @ Y
    XX, XY, YY = X.T @ X, X.T @ Y, np.einsum("np,np->p", Y, Y)
    designs, diagonals = [], []
    for p in range(Y.shape[1]):
        design = RotatedDesign(n, S0, QY[:, p], QX, float(YY[p]), XY[:, p], XX, k < n)
        if deltas is None:
            null = NullFit.of(Y[:, p], X, Q0, restricted=restricted, design=design)
            delta = 1.0
            if null.has_kinship:
                delta = null.search_delta(beta=None, scale=None, start=0.5, stacklevel=1).delta
        else:
            delta = float(deltas[p])
        designs.append(design)
        diagonals.append(((1.0 - delta) * S0 + delta, delta))
    null = _scan.build_null(designs, diagonals, X, Y, Q0)
    null_delta = np.array([d1 for _, d1 in diagonals])
    if test == "lrt" and not refit_delta:
        return ScanState(null, environments, deltas=null_delta)
    exact = ()
    if refit_delta:
        exact = tuple(
            _exact.exact_null(design, lml)
            for design, lml in zip(designs, null.null_lml(), strict=True)
        )
    plan = TestPlan(test, refit_delta, n, X.shape[1], exact, null_delta)
    return ScanState(null, environments, plan, null_delta)


def whitened_state(
    y: np.ndarray,
    X: np.ndarray,
    factor: np.ndarray,
    logdet: float,
    delta: float,
    *,
    environments: np.ndarray | None,
    test: str = "lrt",
) -> ScanState:
    r"""The state of one trait scanned at a null δ already fitted, through the Cholesky
    factor :math:`U` of :math:`(1-\delta)K + \delta I` instead of eigenvectors
    (:func:`kinmix.kernel.association.build_whitened_null`): the same statistics as
    :func:`fit_nulls` given that δ, for a triangular solve per block in place of a GEMM
    with :math:`Q_0` (and no eigendecomposition before it)."""
    null = _scan.build_whitened_null(factor, logdet, X, y)
    deltas = np.array([float(delta)])
    if test == "lrt":
        return ScanState(null, environments, deltas=deltas)
    plan = TestPlan(test, False, X.shape[0], X.shape[1], (), deltas)
    return ScanState(null, environments, plan, deltas)
