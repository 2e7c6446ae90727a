r"""Heritability without the eigendecomposition: Monte-Carlo REML δ and an AI-REML SE.

δ is the Monte-Carlo REML root of :mod:`kinmix.matfree.reml` on the whole-genome kinship.
At it, with :math:`V = (1-\delta)K + \delta I`, P its REML projection and the REML scale
:math:`s = y^\top Py/(n-c)`, the variance components are :math:`\sigma_g^2 = s(1-\delta)`,
:math:`\sigma_e^2 = s\delta`, and their average-information matrix (the REML information
with the data in place of the traces) is

.. math::

    \mathcal{I}_{ij} = \tfrac12\, y^\top P_s V_i P_s V_j P_s y
                     = \frac{1}{2s^3}\, u_i^\top P u_j,\qquad
    u_g = KPy,\ u_e = Py,

with :math:`P_s = P/s` the projection of the scaled covariance :math:`sV`. It costs one
operator product and one batched solve (two right-hand sides). The standard error of
:math:`h^2 = \sigma_g^2/(\sigma_g^2+\sigma_e^2)` follows by the delta method,
:math:`\operatorname{se}^2 = \nabla h^\top \mathcal{I}^{-1} \nabla h` with
:math:`\nabla h = (\sigma_e^2, -\sigma_g^2)/(\sigma_g^2+\sigma_e^2)^2`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._arrays import backend, fetch
from .gls import Batch, project, solve_batch
from .operator import WHOLE_GENOME, GenotypeGRM
from .reml import mc_reml

#: Relative-residual tolerance of the solves behind the standard error.
SE_TOL = 1e-8


@dataclass(frozen=True)
class MatfreeH2:
    """Monte-Carlo REML heritability: ``h2``, ``h2_se`` (AI-REML), ``delta``, ``scale``
    (:math:`s`), ``beta`` (GLS fixed effects) and the CG ``iterations`` per stage."""

    h2: float
    h2_se: float
    delta: float
    scale: float
    beta: np.ndarray
    iterations: dict


def mc_reml_h2(
    op: GenotypeGRM,
    y: np.ndarray,
    X: np.ndarray,
    *,
    samples: int = 30,
    seed: int = 0,
    tol: float = 1e-4,
    maxiter: int = 500,
) -> MatfreeH2:
    """h² of ``y`` on covariates ``X`` with the whole-genome kinship of ``op`` (see above)."""
    whole = np.array([WHOLE_GENOME])
    fit = mc_reml(op, y, X, whole, samples=samples, rng=np.random.default_rng(seed), tol=tol,
                  maxiter=maxiter)
    delta = float(fit.delta[0])
    n, c = X.shape
    batch = Batch(whole, c, np.array([0]))
    B, first = solve_batch(op, batch, batch.columns(y, X, [np.empty((n, 0))]), [delta],
                           stage="reml", tol=SE_TOL, maxiter=maxiter, precision=np.float64)
    null = project(batch, B, first.solution, backend(op))
    Py = np.asarray(fetch(op, [null.Py])[0])
    KPy = np.asarray(fetch(op, [op.product(Py, whole, precision=np.float64)])[0])
    U = np.column_stack([KPy, Py])
    batch = Batch(whole, c, np.array([2]))
    B, second = solve_batch(op, batch, batch.columns(y, X, [U]), [delta], stage="reml",
                            tol=SE_TOL, maxiter=maxiter, precision=np.float64)
    proj = project(batch, B, second.solution, backend(op))
    PU = np.asarray(fetch(op, [proj.Pe])[0])
    scale = float(null.rss0[0]) / (n - c)
    information = (U.T @ PU) / (2.0 * scale**3)
    information = 0.5 * (information + information.T)
    sg, se_ = scale * (1.0 - delta), scale * delta
    gradient = np.array([se_, -sg]) / (sg + se_) ** 2
    variance = float(gradient @ np.linalg.solve(information, gradient))
    S = np.asarray(first.solution)
    XtVX = X.T @ S[:, 1 : 1 + c]
    beta = np.linalg.solve(0.5 * (XtVX + XtVX.T), X.T @ S[:, 0])
    return MatfreeH2(
        h2=1.0 - delta,
        h2_se=float(np.sqrt(variance)) if variance > 0 else float("nan"),
        delta=delta,
        scale=scale,
        beta=beta,
        iterations={"reml": fit.iterations, "se": [first.iterations, second.iterations]},
    )
