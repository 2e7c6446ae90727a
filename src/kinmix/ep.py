r"""Expectation propagation for a Gaussian prior with low-rank-plus-diagonal covariance.

The latent vector has prior :math:`\mathbf f\sim\mathcal N(\mathbf m, \mathrm K)` with

.. math::

    \mathrm K = v_0\,\mathrm U\mathrm U^\intercal + v_1\mathrm I, \qquad
    \mathrm U = \mathrm Q_0\mathrm S_0^{1/2}\ (n\times k),

which covers the GLMM (:math:`\mathrm K` from its economic eigendecomposition, never
:math:`\mathrm Q_1`) and any dense covariance (:math:`k = n`, :math:`v_1 = 0`). EP
replaces each likelihood factor by a site :math:`\tilde t_i(f) \propto
e^{\tilde\eta_i f - \tilde\tau_i f^2/2}` (natural parameters, :math:`\tilde\tau_i \ge 0`).

**Algebra.** With :math:`a_i = 1/(1 + v_1\tilde\tau_i)`, :math:`d_i = a_i\tilde\tau_i`,
:math:`\mathrm C = \mathrm U^\intercal\mathrm D\mathrm U` (:math:`k\times k`) and
:math:`\mathrm B = \mathrm I + v_0\mathrm C = \mathrm L\mathrm L^\intercal`, the Woodbury
identity gives, for :math:`\mathbf b = \tilde{\boldsymbol\eta} - \tilde{\mathrm T}\mathbf m`
and :math:`\mathbf u = \mathrm U^\intercal(\mathbf a\circ\mathbf b)`,

.. math::

    \Sigma &= (\mathrm K^{-1} + \tilde{\mathrm T})^{-1}, \quad
    \operatorname{diag}\Sigma = v_1\mathbf a + v_0\,\mathbf a^2\circ\mathbf g, \quad
    \mathbf g = \operatorname{rowsum}\big((\mathrm U\mathrm L^{-\intercal})^{\circ 2}\big),\\
    \Sigma\mathbf b &= \mathbf a\circ(v_0\mathrm U\mathrm B^{-1}\mathbf u + v_1\mathbf b),
    \qquad
    \log|\mathrm I + \mathrm K\tilde{\mathrm T}| = \textstyle\sum\log(1+v_1\tilde\tau_i)
      + 2\sum\log L_{jj},\\
    \boldsymbol\alpha &= (\mathrm I + \tilde{\mathrm T}\mathrm K)^{-1}\mathbf b
      = \mathbf a\circ\mathbf b - v_0\,\mathbf d\circ\mathrm U\mathrm B^{-1}\mathbf u,
    \qquad
    \mathrm R = (\mathrm K + \tilde{\mathrm T}^{-1})^{-1}
      = \mathrm D - v_0\mathrm D\mathrm U\mathrm B^{-1}\mathrm U^\intercal\mathrm D .

Each sweep costs :math:`O(nk^2)` (forming :math:`\mathrm C` and :math:`\mathbf g`).

**Sweep.** From the posterior marginals :math:`(\mu_i, \sigma_i^2)` the cavities are
:math:`\tau_{-i} = \sigma_i^{-2} - \tilde\tau_i`, :math:`\eta_{-i} = \mu_i\sigma_i^{-2} -
\tilde\eta_i`; the tilted moments :math:`(\hat Z_i, \hat\mu_i, \hat\sigma^2_i)` of
:math:`p(y_i\mid f)\mathcal N(f\mid\eta_{-i}/\tau_{-i}, 1/\tau_{-i})` give the new sites
:math:`\tilde\tau_i = \max(\hat\sigma_i^{-2} - \tau_{-i}, 0)`,
:math:`\tilde\eta_i = \hat\mu_i\hat\sigma_i^{-2} - \eta_{-i}`, all sites at once.
EP stops when :math:`\|\Delta\tilde{\boldsymbol\tau}\| \le r\|\tilde{\boldsymbol\tau}\| + a`
and :math:`\|\Delta\tilde{\boldsymbol\eta}\| \le r\|\tilde{\boldsymbol\eta}\| + a`.

**Marginal likelihood.** With :math:`T_i = \tau_{-i} + \tilde\tau_i`,

.. math::

    \log Z_{EP} = \sum_i\Big[\log\hat Z_i + \tfrac12\log\frac{T_i}{\tau_{-i}}
      - \frac{(\eta_{-i}+\tilde\eta_i)^2}{2T_i} + \frac{\eta_{-i}^2}{2\tau_{-i}}\Big]
      + \tilde{\boldsymbol\eta}^\intercal\mathbf m
      - \tfrac12\mathbf m^\intercal\tilde{\mathrm T}\mathbf m
      - \tfrac12\log|\mathrm I + \mathrm K\tilde{\mathrm T}|
      + \tfrac12\mathbf b^\intercal\Sigma\mathbf b,

a function of the sites alone (cavities and :math:`\hat Z_i` are recomputed from them),
stationary at the EP fixed point. There, its derivatives over the prior are those of
the Gaussian part with the sites held fixed:
:math:`\partial\log Z_{EP}/\partial\mathbf m = \boldsymbol\alpha` and
:math:`\partial\log Z_{EP}/\partial\mathrm K = \tfrac12(\boldsymbol\alpha
\boldsymbol\alpha^\intercal - \mathrm R)`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .errors import ConvergenceWarning, FitError
from .lik import ProdLik

__all__ = ["EPResult", "LowRankPrior", "SiteAlgebra", "Sites", "run_ep"]

#: Smallest cavity precision (a cavity this flat behaves as an improper prior).
_TINY = float(np.finfo(float).eps)


@dataclass(frozen=True)
class LowRankPrior:
    r"""Gaussian prior
    :math:`\mathcal N(\mathbf m, v_0\mathrm U\mathrm U^\intercal + v_1\mathrm I)`.

    Attributes
    ----------
    mean
        :math:`\mathbf m`, shape (n,).
    U
        :math:`\mathrm U`, shape (n, k) (k may be 0).
    v0, v1
        Non-negative variances.
    """

    mean: np.ndarray
    U: np.ndarray
    v0: float
    v1: float


@dataclass(frozen=True)
class Sites:
    r"""EP site parameters in natural form: :math:`\tilde\eta_i = \tilde\mu_i/\tilde\sigma_i^2`
    and :math:`\tilde\tau_i = 1/\tilde\sigma_i^2 \ge 0`."""

    eta: np.ndarray
    tau: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> Sites:
        """Uninformative sites (the posterior equals the prior)."""
        return cls(np.zeros(n), np.zeros(n))


class SiteAlgebra:
    """The module's algebra for one prior and one set of sites (see the module notes)."""

    def __init__(self, prior: LowRankPrior, sites: Sites) -> None:
        self.prior = prior
        self.sites = sites
        U, v0, v1 = prior.U, prior.v0, prior.v1
        self.a = 1.0 / (1.0 + v1 * sites.tau)
        self.d = self.a * sites.tau
        self.C = U.T @ (self.d[:, None] * U)
        B = v0 * self.C
        B[np.diag_indices_from(B)] += 1.0
        self.L = np.linalg.cholesky(B)
        # B has eigenvalues >= 1, so the explicit inverse of its factor is well conditioned.
        self.Li = np.linalg.inv(self.L)
        self.b = sites.eta - sites.tau * prior.mean
        self.u = U.T @ (self.a * self.b)
        self.Binv_u = self.Li.T @ (self.Li @ self.u)
        LiUt = self.Li @ U.T
        self.g = np.einsum("ij,ij->j", LiUt, LiUt)

    def logdet(self) -> float:
        r""":math:`\log|\mathrm I + \mathrm K\tilde{\mathrm T}|`."""
        v1 = self.prior.v1
        return float(np.log1p(v1 * self.sites.tau).sum() + 2 * np.log(np.diag(self.L)).sum())

    def quadratic(self) -> float:
        r""":math:`\mathbf b^\intercal\Sigma\mathbf b`."""
        p = self.prior
        return float(p.v1 * (self.a * self.b * self.b).sum() + p.v0 * self.u @ self.Binv_u)

    def marginals(self) -> tuple[np.ndarray, np.ndarray]:
        r"""Posterior means :math:`\mathbf m + \Sigma\mathbf b` and variances
        :math:`\operatorname{diag}\Sigma`."""
        p = self.prior
        mean = p.mean + self.a * (p.v0 * (p.U @ self.Binv_u) + p.v1 * self.b)
        var = p.v1 * self.a + p.v0 * self.a * self.a * self.g
        return mean, var

    def alpha(self) -> np.ndarray:
        r""":math:`\boldsymbol\alpha = \partial\log Z/\partial\mathbf m`."""
        p = self.prior
        return self.a * self.b - p.v0 * self.d * (p.U @ self.Binv_u)

    def trace_r(self) -> float:
        r""":math:`\operatorname{tr}\mathrm R`."""
        return float((self.d - self.prior.v0 * self.d * self.d * self.g).sum())

    def trace_r_uut(self) -> float:
        r""":math:`\operatorname{tr}(\mathrm R\mathrm U\mathrm U^\intercal)
        = \operatorname{tr}\mathrm C - v_0\operatorname{tr}(\mathrm C\mathrm B^{-1}\mathrm C)`."""
        if self.C.size == 0:
            return 0.0
        LiC = self.Li @ self.C
        return float(np.trace(self.C) - self.prior.v0 * np.sum(LiC * LiC))

    def dense_r(self) -> np.ndarray:
        r""":math:`\mathrm R` as an :math:`n\times n` matrix (:math:`O(n^2k)`)."""
        DU = self.d[:, None] * self.prior.U
        LiDUt = self.Li @ DU.T
        R = -self.prior.v0 * (LiDUt.T @ LiDUt)
        R[np.diag_indices_from(R)] += self.d
        return R


@dataclass(frozen=True)
class EPResult:
    """Outcome of :func:`run_ep`.

    Attributes
    ----------
    sites
        Site parameters at which EP stopped.
    lml
        :math:`\\log Z_{EP}` at those sites.
    algebra
        :class:`SiteAlgebra` at those sites (for gradients).
    converged
        Whether the tolerance was met.
    n_iterations
        Number of sweeps.
    change
        Last :math:`\\|\\Delta\\tilde{\\boldsymbol\\tau}\\|` and
        :math:`\\|\\Delta\\tilde{\\boldsymbol\\eta}\\|`, relative to their tolerances
        (converged when both are at most 1).
    """

    sites: Sites
    lml: float
    algebra: SiteAlgebra
    converged: bool
    n_iterations: int
    change: float


def _site_terms(log_zeroth, cav_eta, cav_tau, sites: Sites) -> float:
    total = cav_tau + sites.tau
    eta = cav_eta + sites.eta
    terms = (
        log_zeroth
        + 0.5 * np.log(total / cav_tau)
        - 0.5 * eta * eta / total
        + 0.5 * cav_eta * cav_eta / cav_tau
    )
    return float(terms.sum())


def _lml(algebra: SiteAlgebra, log_zeroth, cav_eta, cav_tau) -> float:
    sites, m = algebra.sites, algebra.prior.mean
    value = _site_terms(log_zeroth, cav_eta, cav_tau, sites)
    value += float(sites.eta @ m - 0.5 * (sites.tau * m) @ m)
    value += -0.5 * algebra.logdet() + 0.5 * algebra.quadratic()
    return value


def run_ep(
    prior: LowRankPrior,
    lik: ProdLik,
    y: np.ndarray,
    *,
    sites: Sites | None = None,
    rtol: float = 1.49e-5,
    atol: float = 1.49e-8,
    max_iterations: int = 500,
) -> EPResult:
    """Run parallel EP sweeps from ``sites`` (zeros if None) until the sites settle.

    Parameters
    ----------
    prior
        The Gaussian prior of the latent vector.
    lik
        The likelihood, giving the tilted moments.
    y
        Outcomes, already checked against the likelihood's support.
    sites
        Starting sites (a warm start from a nearby prior saves sweeps).
    rtol, atol
        Relative and absolute tolerances on the change of the sites in one sweep.
    max_iterations
        Largest number of sweeps.

    Returns
    -------
    EPResult

    Warns
    -----
    ConvergenceWarning
        If the tolerance is not met within ``max_iterations`` sweeps; the result then
        holds the last sites and ``converged=False``.

    Raises
    ------
    FitError
        If the sweep produces non-finite sites (a numerically degenerate prior).
    """
    n = prior.mean.shape[0]
    sites = Sites.zeros(n) if sites is None else sites
    change = np.inf
    for iteration in range(1, max_iterations + 1):
        algebra = SiteAlgebra(prior, sites)
        mean, var = algebra.marginals()
        cav_tau = np.maximum(1.0 / var - sites.tau, _TINY)
        cav_eta = mean / var - sites.eta
        moments = lik.tilted_moments(y, cav_eta / cav_tau, 1.0 / cav_tau)
        new_tau = np.maximum(1.0 / moments.variance - cav_tau, 0.0)
        new_eta = moments.mean / moments.variance - cav_eta
        if not (np.all(np.isfinite(new_tau)) and np.all(np.isfinite(new_eta))):
            raise FitError(
                f"EP produced non-finite site parameters at sweep {iteration}; the prior "
                f"(v0={prior.v0:.6g}, v1={prior.v1:.6g}) is numerically degenerate for "
                "these outcomes. Bound the variances away from extreme values."
            )
        change = max(
            np.linalg.norm(new_tau - sites.tau) / (rtol * np.linalg.norm(new_tau) + atol),
            np.linalg.norm(new_eta - sites.eta) / (rtol * np.linalg.norm(new_eta) + atol),
        )
        if change <= 1.0:
            lml = _lml(algebra, moments.log_zeroth, cav_eta, cav_tau)
            return EPResult(sites, lml, algebra, True, iteration, float(change))
        sites = Sites(new_eta, new_tau)
    algebra = SiteAlgebra(prior, sites)
    mean, var = algebra.marginals()
    cav_tau = np.maximum(1.0 / var - sites.tau, _TINY)
    cav_eta = mean / var - sites.eta
    moments = lik.tilted_moments(y, cav_eta / cav_tau, 1.0 / cav_tau)
    lml = _lml(algebra, moments.log_zeroth, cav_eta, cav_tau)
    warnings.warn(
        f"EP did not converge in {max_iterations} sweeps: the last change of the sites "
        f"was {change:.3g} times the tolerance (rtol={rtol:g}, atol={atol:g}). "
        "The marginal likelihood may be inaccurate; loosen rtol/atol, raise "
        "max_iterations, or check for extreme variance parameters.",
        ConvergenceWarning,
        stacklevel=2,
    )
    return EPResult(sites, lml, algebra, False, max_iterations, float(change))
