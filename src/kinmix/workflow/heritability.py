"""Heritability: REML h² with its standard error, and GEMMA's proportion of variance explained."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import (
    as_matrix,
    as_vector,
    check_full_column_rank,
    check_not_fitted_exactly,
    check_samples,
)
from ..errors import BoundaryWarning, FitError, KinmixWarning
from ..lmm import LinearMixedModel
from ..matfree import GenotypeGRM


@dataclass(frozen=True)
class H2Estimate:
    r"""REML heritability of one trait (:func:`estimate_h2`).

    Attributes
    ----------
    h2, h2_se : float
        :math:`h^2 = \sigma^2/(\sigma^2+\tau^2)` and its standard error (Hail's
        ``h_sq``, ``h_sq_standard_error``).
    delta : float
        :math:`\delta = 1 - h^2`, limix's parametrisation.
    scale : float
        :math:`\sigma^2 + \tau^2`.
    beta : numpy.ndarray
        Fixed effects at the REML optimum, one per column of ``X``.
    lml : float
        The restricted log-likelihood at the optimum (``LMM(..., restricted=True).lml()``).
    n, k : int
        Sample size and number of non-zero eigenvalues of the kinship.

    ``estimate["h2"]`` reads a field as the seed's dict did.
    """

    h2: float
    h2_se: float
    delta: float
    scale: float
    beta: np.ndarray
    lml: float
    n: int
    k: int

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)


def estimate_h2(y: Any, X: Any, K: Any, *, mc_samples: int = 30, seed: int = 0) -> H2Estimate:
    r"""REML heritability of ``y`` given covariates ``X`` and a kinship ``K``.

    Fits :math:`y \sim N(X\beta, \sigma^2K + \tau^2I)` by REML (Hail's
    :class:`~kinmix.lmm.LinearMixedModel`) and returns an :class:`H2Estimate`. ``X`` may
    be any (n, c) array-like; a 1-D ``X`` is one covariate.

    ``K`` may also be a :class:`kinmix.matfree.GenotypeGRM` (the whole-genome GRM of its
    model variants, never formed): δ is then the Monte-Carlo REML root with ``mc_samples``
    draws from ``seed`` (:mod:`kinmix.matfree.reml`), ``h2_se`` the average-information
    standard error (:mod:`kinmix.matfree.heritability`), ``lml`` NaN (the log-determinant
    is not formed) and ``k`` the bound :math:`\min(n, m)` on the kinship's rank.

    Warns
    -----
    BoundaryWarning
        When the optimum lies on the boundary of :math:`\log\gamma \in [-8, 8]` (h² near
        0 or 1): the estimate at the bound is returned with ``h2_se`` NaN.
    KinmixWarning
        When K is proportional to the identity: h² is unidentifiable and ``h2``,
        ``h2_se``, ``delta`` are NaN.
    """
    y = as_vector(y, "y")
    X = as_matrix(X, "X", nrows=y.shape[0])
    check_samples(y.shape[0], X.shape[1])
    check_full_column_rank(X, "X")
    check_not_fitted_exactly(y, X)
    if isinstance(K, GenotypeGRM):
        return _estimate_matfree(y, X, K, mc_samples, seed)
    model, _ = LinearMixedModel.from_kinship(y, X, K)
    if _proportional_to_identity(model.s):
        warnings.warn(
            "h2 is unidentifiable: K is proportional to the identity, so sigma²K + tau²I is "
            "a multiple of I whatever h2 and the data cannot split it. h2, h2_se and delta "
            "are NaN; scale and beta are those of the total variance.",
            KinmixWarning,
            stacklevel=2,
        )
        model.fit(log_gamma=0.0)
        unidentified = float("nan")
        return _estimate(model, h2=unidentified, h2_se=unidentified, delta=unidentified)
    bounds = (-8.0, 8.0)
    try:
        model.fit(bounds=bounds)
    except FitError:
        if model.optimize_result is None:
            raise
        at_lower = model.optimize_result.x - bounds[0] < bounds[1] - model.optimize_result.x
        model.fit(log_gamma=bounds[0] if at_lower else bounds[1])
        warnings.warn(
            f"h2 = {model.h_sq:.3g} lies on the boundary of its search range (log_gamma = "
            f"{model.log_gamma:g}): the data favour "
            + ("no kinship effect (h2 -> 0)" if at_lower else "h2 -> 1 (no noise)")
            + "; h2_se is not defined there and is NaN.",
            BoundaryWarning,
            stacklevel=2,
        )
        return _estimate(model, h2_se=float("nan"))
    return _estimate(model)


def _estimate_matfree(y: np.ndarray, X: np.ndarray, K: GenotypeGRM, samples: int,
                      seed: int) -> H2Estimate:
    from ..errors import InputError
    from ..matfree.heritability import mc_reml_h2

    if K.n != y.shape[0]:
        raise InputError(
            f"the GenotypeGRM K has {K.n} samples but y has {y.shape[0]}: build it from the "
            "genotypes of the same samples, in the same order."
        )
    fit = mc_reml_h2(K, y, X, samples=samples, seed=seed)
    return H2Estimate(h2=fit.h2, h2_se=fit.h2_se, delta=fit.delta, scale=fit.scale,
                      beta=fit.beta, lml=float("nan"), n=K.n, k=min(K.n, int(K.counts.sum())))


def _proportional_to_identity(s: np.ndarray) -> bool:
    """Whether the eigenvalues of a full-rank kinship are all equal (K ∝ I)."""
    return bool(s.size and s.min() > 0 and np.ptp(s) <= 1e-10 * s.max())


def _estimate(model: LinearMixedModel, **fields: float) -> H2Estimate:
    """The :class:`H2Estimate` of a fitted model, with ``fields`` replacing its own."""
    values = dict(
        h2=model.h_sq,
        h2_se=model.h_sq_standard_error,
        delta=1.0 / (1.0 + model.gamma),
        scale=model.sigma_sq + model.tau_sq,
        beta=np.asarray(model.beta),
        lml=model.restricted_log_likelihood(),
        n=model.n,
        k=int(np.sum(model.s > 0)),
    )
    values.update(fields)
    return H2Estimate(**values)


# -- heritability in GEMMA's terms -----------------------------------------------------------
def model_from_qs(y: np.ndarray, X: np.ndarray, QS: Any) -> LinearMixedModel:
    """Hail's :class:`~kinmix.lmm.LinearMixedModel` of ``y`` on ``X`` with kinship ``QS``."""
    (Q0, _), S0 = QS
    if Q0.shape[1] == Q0.shape[0]:
        return LinearMixedModel(Q0.T @ y, Q0.T @ X, S0)
    return LinearMixedModel(Q0.T @ y, Q0.T @ X, S0, y, X)


def gemma_pve(model: LinearMixedModel, trace_g: float) -> tuple[float, float]:
    r"""GEMMA's proportion of variance explained and its standard error, of a fitted model.

    With :math:`\lambda = \sigma^2/\tau^2` at the REML optimum, :math:`t_G = \mathrm{tr}(K)/n`
    and :math:`\ell(\lambda)` the restricted log-likelihood,

    .. math::

        \mathrm{pve} = \frac{t_G\lambda}{t_G\lambda + 1},\qquad
        \mathrm{se(pve)} = \frac{t_G}{(t_G\lambda + 1)^2}\,
            \bigl(-\ell''(\lambda)\bigr)^{-1/2}.

    :math:`\ell''(\lambda) = (\ell_{tt} - \ell_t)/\lambda^2` in :math:`t = \log\lambda`, with
    :math:`\ell_t, \ell_{tt}` central differences of
    :meth:`~kinmix.lmm.LinearMixedModel.compute_neg_log_reml` (Richardson-extrapolated over
    radii :math:`10^{-3}` and :math:`2\cdot10^{-3}`).
    """
    t, lam = model.log_gamma, model.gamma

    def derivatives(h: float) -> tuple[float, float]:
        f = [-model.compute_neg_log_reml(t + s * h) for s in (-1.0, 0.0, 1.0)]
        return (f[2] - f[0]) / (2 * h), (f[2] - 2 * f[1] + f[0]) / h**2

    (d1, d2), (e1, e2) = derivatives(1e-3), derivatives(2e-3)
    slope, curvature = (4 * d1 - e1) / 3, (4 * d2 - e2) / 3
    second = (curvature - slope) / lam**2
    pve = trace_g * lam / (trace_g * lam + 1.0)
    se = trace_g / (trace_g * lam + 1.0) ** 2 * float(np.sqrt(-1.0 / second))
    return float(pve), se
