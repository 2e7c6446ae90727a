r"""limix's :class:`GLMMExpFam`: GLMMs with exponential-family outcomes, fitted by EP."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._validate import as_scalar
from ..constants import QUADRATURE_NODES
from ..ep import EPResult, Sites, run_ep
from ..errors import BoundaryWarning
from ..lik import BernoulliProdLik, BinomialProdLik, ProbitProdLik, ProdLik, make_lik
from ..params import FitResult, fit_model
from ._base import DELTA_EPSILON, GLMMParameters

__all__ = ["GLMMExpFam"]


#: A fitted success probability closer than this to 0 or 1 signals separation.
SEPARATION_PROBABILITY = 1e-6


class GLMMExpFam(GLMMParameters):
    r"""Generalised linear mixed model fitted by expectation propagation.

    .. math::

        y_i\mid f_i \sim p(y_i\mid g^{-1}(f_i)), \qquad
        \mathbf f\sim\mathcal N\big(\mathrm X\boldsymbol\beta,
        s((1-\delta)\mathrm K + \delta\mathrm I)\big),

    with the Bernoulli (logit), probit, binomial (logit) or Poisson (log) likelihood.
    :math:`\log p(\mathbf y)` is approximated by EP (:mod:`kinmix.ep`) on the
    economic eigendecomposition :math:`\mathrm K = \mathrm Q_0\mathrm S_0\mathrm Q_0^\intercal`
    (rank k): each sweep costs :math:`O(nk^2)` plus the tilted moments; :math:`\mathrm Q_1`
    is never used.

    Parameters
    ----------
    y : array_like, shape (n,)
        Outcomes: 0/1 (Bernoulli, probit), numbers of successes (binomial), counts
        (Poisson).
    lik : tuple
        ``("bernoulli",)``, ``("probit",)``, ``("binomial", ntrials)`` or
        ``("poisson",)``; names are case-insensitive.
    X : array_like, shape (n, c)
        Covariates.
    QS : tuple, optional
        ``economic_qs(K)``; None means K = 0.
    n_int : int
        Largest number of quadrature nodes per site for the tilted moments.
    rtol, atol : float
        EP tolerances on the change of the sites in one sweep.

    Notes
    -----
    Starts at :math:`\boldsymbol\beta = 0`, s = 1, δ = 0.5. For the probit likelihood
    δ is fixed at its lower limit (the identity term is confounded with the probit
    scale). EP starts from the sites of the previous evaluation, so a fit sweeps little;
    results differ from a cold start by far less than the tolerance.

    Raises
    ------
    InputError
        If ``y`` is outside the likelihood's support, sizes mismatch, or an argument
        holds NaN.
    """

    def __init__(
        self,
        y: Any,
        lik: Any,
        X: Any,
        QS: Any = None,
        n_int: int = QUADRATURE_NODES,
        rtol: float = 1.49e-05,
        atol: float = 1.49e-08,
    ) -> None:
        self._lik = make_lik(lik, n_int)
        self._y = self._lik.check_outcome(y, "y")
        super().__init__(self._y.shape[0], X, QS)
        self._rtol = as_scalar(rtol, "rtol", lower=0.0, open_lower=True)
        self._atol = as_scalar(atol, "atol", lower=0.0)
        self._sites = Sites.zeros(self._y.shape[0])
        self._result: EPResult | None = None
        self._result_state: tuple | None = None
        if isinstance(self._lik, ProbitProdLik):
            self._params["logitdelta"].value = DELTA_EPSILON
            self.fix("delta")

    @property
    def lik(self) -> ProdLik:
        """The likelihood."""
        return self._lik

    def _ep(self) -> EPResult:
        state = self._state()
        if self._result is None or self._result_state != state:
            self._result = run_ep(
                self._prior(),
                self._lik,
                self._y,
                sites=self._sites,
                rtol=self._rtol,
                atol=self._atol,
            )
            self._result_state = state
            self._sites = self._result.sites
        return self._result

    @property
    def site(self) -> Sites:
        r"""EP site parameters :math:`(\tilde{\boldsymbol\eta}, \tilde{\boldsymbol\tau})`
        at the current parameters."""
        return self._ep().sites

    def value(self) -> float:
        """Log of the marginal likelihood (EP approximation)."""
        return self._ep().lml

    def lml(self) -> float:
        r"""Log of the marginal likelihood, :math:`\log p(\mathbf y)` by EP."""
        return self.value()

    def gradient(self) -> dict[str, Any]:
        r"""Derivatives of :meth:`lml` over ``"beta"``, ``"logscale"``, ``"logitdelta"``.

        Exact for the EP approximation at its fixed point (the sites' own dependence on the
        parameters drops out there), so its accuracy follows ``rtol``/``atol``.
        """
        return self._gradient(self._ep().algebra)

    def fit(self, verbose: bool = True, factr: float = 1e5, pgtol: float = 1e-7) -> FitResult:
        """Maximise the marginal likelihood over the unfixed parameters: L-BFGS-B by
        :func:`kinmix.params.fit_model`, which documents the arguments and the warnings.

        Warns
        -----
        BoundaryWarning
            Also if a fitted success probability reaches within ``SEPARATION_PROBABILITY``
            of 0 or 1 (Bernoulli, probit, binomial): the outcome is perfectly separated by
            the covariates, or all equal, and the maximum likelihood does not exist.
        """
        result = fit_model(self, factr=factr, pgtol=pgtol, verbose=verbose)
        self._warn_if_separated()
        return result

    def _warn_if_separated(self) -> None:
        if not isinstance(self._lik, (BernoulliProdLik, BinomialProdLik)):
            return
        probability = np.asarray(self._lik.mean(self.mean()), dtype=float)
        extreme = np.minimum(probability, 1.0 - probability)
        if extreme.size and extreme.min() < SEPARATION_PROBABILITY:
            warnings.warn(
                f"GLMMExpFam.fit: fitted success probabilities reach {extreme.min():.3g} of 0 "
                f"or 1 (effects up to {np.abs(self.beta).max():.3g}): the outcome is perfectly "
                "separated by the covariates, or all equal, so the maximum likelihood does "
                "not exist and the effects grow with the iterations. Drop the separating "
                "covariate, or use a penalised model.",
                BoundaryWarning,
                stacklevel=3,
            )

    def __repr__(self) -> str:
        return (
            f"GLMMExpFam(n={self._y.shape[0]}, lik={self._lik!r}, beta={np.round(self.beta, 6)},"
            f" scale={self.scale:.6g}, delta={self.delta:.6g})"
        )
