r"""limix's :class:`GLMMNormal`: the LMM on EP's Gaussian sites, and its fast scanner."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import as_vector
from ..constants import LOG2PI
from ..ep import SiteAlgebra, Sites
from ..errors import InputError
from ..linalg import economic_qs
from ..params import FitResult, fit_model
from ._base import GLMMParameters

__all__ = ["GLMMNormal"]


class GLMMNormal(GLMMParameters):
    r"""Linear mixed model with heteroscedastic Normal likelihoods.

    .. math::

        \tilde{\boldsymbol\mu} \sim \mathcal N\big(\mathrm X\boldsymbol\beta,
        v_0\mathrm K + v_1\mathrm I + \tilde\Sigma\big),

    with :math:`\tilde\mu_i = \tilde\eta_i/\tilde\tau_i` and
    :math:`\tilde\Sigma = \operatorname{diag}(1/\tilde\tau_i)`, typically the EP sites of a
    fitted :class:`GLMMExpFam`. With the notation of :mod:`kinmix.ep`
    (:math:`\mathbf b = \tilde{\boldsymbol\eta} - \tilde{\mathrm T}\mathrm X\boldsymbol\beta`),

    .. math::

        \log p(\tilde{\boldsymbol\mu}) = -\tfrac n2\log 2\pi
        + \tfrac12\textstyle\sum\log\tilde\tau_i
        - \tfrac12\log|\mathrm I + \mathrm K_v\tilde{\mathrm T}|
        - \tfrac12\big(\mathbf b^\intercal\tilde{\mathrm T}^{-1}\mathbf b
        - \mathbf b^\intercal\Sigma\mathbf b\big),

    :math:`\mathrm K_v = v_0\mathrm K + v_1\mathrm I`, at :math:`O(nk^2)` per evaluation.

    Parameters
    ----------
    eta : array_like, shape (n,)
        :math:`\tilde\eta_i = \tilde\mu_i/\tilde\sigma_i^2`.
    tau : array_like, shape (n,)
        :math:`\tilde\tau_i = 1/\tilde\sigma_i^2`, positive.
    X : array_like, shape (n, c)
        Covariates.
    QS : tuple, optional
        ``economic_qs(K)``; None means K = 0.

    Raises
    ------
    InputError
        If ``tau`` has a non-positive entry, sizes mismatch, or an input holds NaN.
    """

    def __init__(self, eta: Any, tau: Any, X: Any, QS: Any = None) -> None:
        eta = as_vector(eta, "eta")
        tau = as_vector(tau, "tau", eta.shape[0])
        if np.any(tau <= 0):
            i = int(np.argmax(tau <= 0))
            raise InputError(
                f"tau must be positive (site precisions); tau[{i}] = {tau[i]:g}. Sites with "
                "zero precision carry no information: drop those samples."
            )
        super().__init__(eta.shape[0], X, QS)
        self._sites = Sites(eta, tau)

    @property
    def eta(self) -> np.ndarray:
        r""":math:`\tilde{\boldsymbol\eta}`."""
        return self._sites.eta.copy()

    @property
    def tau(self) -> np.ndarray:
        r""":math:`\tilde{\boldsymbol\tau}`."""
        return self._sites.tau.copy()

    def _algebra(self) -> SiteAlgebra:
        return SiteAlgebra(self._prior(), self._sites)

    def value(self) -> float:
        r"""Log of the marginal likelihood :math:`\log p(\tilde{\boldsymbol\mu})`."""
        algebra = self._algebra()
        tau = self._sites.tau
        b = algebra.b
        quad = float((b * b / tau).sum()) - algebra.quadratic()
        n = tau.shape[0]
        return -0.5 * (n * LOG2PI - float(np.log(tau).sum()) + algebra.logdet() + quad)

    def lml(self) -> float:
        """Log of the marginal likelihood (same as :meth:`value`)."""
        return self.value()

    def gradient(self) -> dict[str, Any]:
        """Derivatives of :meth:`value` over ``"beta"``, ``"logscale"``, ``"logitdelta"``."""
        return self._gradient(self._algebra())

    def fit(self, verbose: bool = True, factr: float = 1e5, pgtol: float = 1e-7) -> FitResult:
        """Maximise the marginal likelihood over the unfixed parameters: L-BFGS-B by
        :func:`kinmix.params.fit_model`, which documents the arguments and the warnings."""
        return fit_model(self, factr=factr, pgtol=pgtol, verbose=verbose)

    def get_fast_scanner(self) -> Any:
        r""":class:`kinmix.lmm.FastScanner` for the current :math:`v_0` and :math:`v_1`.

        The scanner sees the outcome :math:`\tilde{\boldsymbol\mu}` with covariance
        :math:`s'(\mathrm K' + v_1\mathrm I)`, where
        :math:`\mathrm K' = v_0\mathrm K + \tilde\Sigma` is eigendecomposed densely
        (:math:`O(n^3)`) and the scale :math:`s'` is re-estimated by the scanner.
        """
        from ..lmm import FastScanner

        K = self._U @ self._U.T * self.v0
        K[np.diag_indices_from(K)] += 1.0 / self._sites.tau
        mu = self._sites.eta / self._sites.tau
        return FastScanner(mu, self._X, economic_qs(K), self.v1)
