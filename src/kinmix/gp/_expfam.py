r"""Generalised Gaussian processes fitted by expectation propagation: :class:`ExpFamGP`.

The model is

.. math::

    y_i\mid f_i \sim p(y_i\mid g^{-1}(f_i)), \qquad
    \mathbf f\sim\mathcal N\big(\mathbf m(\boldsymbol\theta),
    \mathrm K(\boldsymbol\theta)\big),

with a mean function (:mod:`kinmix.mean`) and a dense covariance function
(:mod:`kinmix.cov`). :math:`\log p(\mathbf y)` is the EP approximation of
:mod:`kinmix.ep`, run on :math:`\mathrm K = \mathrm U\mathrm U^\intercal` with
:math:`\mathrm U = \mathrm Q\mathrm S^{1/2}` from the dense eigendecomposition of
:math:`\mathrm K` (:math:`O(n^3)` per evaluation, :math:`O(n^3)` per sweep). At the EP
fixed point,

.. math::

    \frac{\partial\log Z_{EP}}{\partial\mathbf m} = \boldsymbol\alpha, \qquad
    \frac{\partial\log Z_{EP}}{\partial\mathrm K}
    = \tfrac12\big(\boldsymbol\alpha\boldsymbol\alpha^\intercal - \mathrm R\big),

with :math:`\boldsymbol\alpha = (\mathrm K + \tilde\Sigma)^{-1}(\tilde{\boldsymbol\mu}
- \mathbf m)` and :math:`\mathrm R = (\mathrm K + \tilde\Sigma)^{-1}`, written without
inverting the site precisions; the chain rule through the mean and covariance gradients
is :class:`kinmix.gp.GPModel`'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..cov import Covariance
from ..ep import EPResult, LowRankPrior, Sites, run_ep
from ..lik import ProdLik, make_lik
from ..mean import Mean
from ._gp import GPModel

__all__ = ["ExpFamGP"]


class ExpFamGP(GPModel):
    r"""Expectation propagation for a Gaussian-process prior and a non-Normal likelihood.

    Parameters
    ----------
    y : array_like, shape (n,)
        Outcomes in the likelihood's support.
    lik : str or tuple or ProdLik
        ``"bernoulli"``, ``"probit"``, ``("binomial", ntrials)``, ``"poisson"`` (any case),
        or a :class:`kinmix.lik.ProdLik`.
    mean : Mean
        Mean function of length n.
    cov : Covariance
        Covariance function of shape n×n.
    rtol, atol : float
        EP tolerances on the change of the sites in one sweep.

    Notes
    -----
    ``lml()`` is the EP marginal likelihood; ``gradient()`` its derivatives under the keys
    ``"ExpFamGP[0].<mean key>"`` and ``"ExpFamGP[1].<cov key>"``; ``fit()`` maximises it
    by L-BFGS-B, leaving the optimum in ``mean`` and ``cov``. EP starts from the sites of
    the previous evaluation.

    Raises
    ------
    InputError
        If ``y`` is outside the likelihood's support, or the sizes do not match.
    """

    def __init__(
        self,
        y: Any,
        lik: Any,
        mean: Mean,
        cov: Covariance,
        *,
        rtol: float = 1.49e-05,
        atol: float = 1.49e-08,
    ) -> None:
        self._lik: ProdLik = make_lik(lik)
        self._y = self._lik.check_outcome(y, "y")
        super().__init__("ExpFamGP", self._y.shape[0], mean, cov)
        self._rtol, self._atol = float(rtol), float(atol)
        self._sites = Sites.zeros(self._y.shape[0])
        self._cache: tuple[tuple, EPResult] | None = None

    @property
    def lik(self) -> ProdLik:
        """The likelihood."""
        return self._lik

    def _ep(self) -> EPResult:
        state = tuple(p.free.tobytes() for p in self.parameters().values())
        if self._cache is None or self._cache[0] != state:
            S, Q = np.linalg.eigh(self._cov.value())
            U = Q * np.sqrt(np.maximum(S, 0.0))
            prior = LowRankPrior(self._mean.value(), U, 1.0, 0.0)
            result = run_ep(
                prior, self._lik, self._y, sites=self._sites, rtol=self._rtol, atol=self._atol
            )
            self._sites = result.sites
            self._cache = (state, result)
        return self._cache[1]

    @property
    def site(self) -> Sites:
        """EP site parameters at the current parameters."""
        return self._ep().sites

    def value(self) -> float:
        r"""EP approximation of :math:`\log p(\mathbf y)`."""
        return self._ep().lml

    def gradient(self) -> dict[str, Any]:
        r"""Derivatives of :meth:`value` over the free parameters of the mean and covariance."""
        algebra = self._ep().algebra
        alpha = algebra.alpha()
        return self._prior_gradient(alpha, 0.5 * (np.outer(alpha, alpha) - algebra.dense_r()))
