r"""Parameters shared by the GLMMs: :math:`\boldsymbol\beta`, the scale s and the ratio δ.

The latent predictor has prior
:math:`\mathbf f\sim\mathcal N(\mathrm X\boldsymbol\beta, s((1-\delta)\mathrm K +
\delta\mathrm I))`, i.e. :math:`v_0 = s(1-\delta)` and :math:`v_1 = s\delta`. The free
coordinates are :math:`\boldsymbol\beta`, :math:`\log s` (bounded to
:math:`[\log 10^{-3}, \log 400]` while fitting) and :math:`\operatorname{logit}\delta`,
keyed ``"beta"``, ``"logscale"``, ``"logitdelta"`` in ``gradient()`` (glimix-core's keys).

δ has one parametrisation across kinmix: the LMM kernel searches
:math:`\log\gamma = \operatorname{logit}(1-\delta) = -\operatorname{logit}\delta`
within GEMMA's range :math:`\pm\log 10^5` (:data:`kinmix.constants.GAMMA_BOUNDS`), and the
GLMMs move :math:`\operatorname{logit}\delta` within
:math:`\pm\operatorname{logit}(1-\sqrt\epsilon)`, i.e. :math:`\delta \in
[\sqrt\epsilon, 1-\sqrt\epsilon]`, the range of glimix-core's δ (which moved its logit
within :math:`[-50, 15]`; no seed example or reference fit reaches beyond these bounds).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import as_matrix, as_scalar, as_vector, check_full_column_rank, check_samples
from ..constants import SQRT_EPS
from ..ep import LowRankPrior, SiteAlgebra
from ..linalg import unpack_qs
from ..params import IDENTITY, LOG, LOGIT, DeltaScaleVariances, Parameter, parameter_key

#: δ is kept within [ε, 1 − ε] (ε = √machine epsilon, glimix-core's) so that logit δ is
#: finite; the LMM's δ search range (``kinmix.constants.DELTA_BOUNDS``) is GEMMA's.
DELTA_EPSILON = SQRT_EPS
SCALE_BOUNDS = (float(np.log(1e-3)), float(np.log(400.0)))
#: Bounds of logit δ matching ``DELTA_EPSILON``.
LOGITDELTA_LIMIT = float(np.log((1 - DELTA_EPSILON) / DELTA_EPSILON))
LOGITDELTA_BOUNDS = (-LOGITDELTA_LIMIT, LOGITDELTA_LIMIT)
_KEYS = {"beta": "beta", "scale": "logscale", "delta": "logitdelta"}


class GLMMParameters(DeltaScaleVariances):
    """Facade of the parameters and of the prior of a GLMM (see the module notes).

    Parameters
    ----------
    n
        Number of samples.
    X
        Covariates, n×c.
    QS
        Economic eigendecomposition of K, or None for K = 0.
    """

    def __init__(self, n: int, X: Any, QS: Any) -> None:
        self._X = as_matrix(X, "X", nrows=n)
        check_samples(n, self._X.shape[1])
        check_full_column_rank(self._X, "X")
        if QS is None:
            Q0, S0 = np.zeros((n, 0)), np.zeros(0)
        else:
            Q0, S0 = unpack_qs(QS, n)
        self._Q0, self._S0 = Q0, S0
        self._U = Q0 * np.sqrt(S0)
        self._params = {
            "beta": Parameter("beta", np.zeros(self._X.shape[1]), transform=IDENTITY),
            "logscale": Parameter("scale", 1.0, transform=LOG, bounds=SCALE_BOUNDS),
            "logitdelta": Parameter("delta", 0.5, transform=LOGIT, bounds=LOGITDELTA_BOUNDS),
        }

    # -- parameters -----------------------------------------------------------------------
    @property
    def beta(self) -> np.ndarray:
        r"""Fixed-effect sizes :math:`\boldsymbol\beta`."""
        return self._params["beta"].value

    @beta.setter
    def beta(self, value: Any) -> None:
        self._params["beta"].value = as_vector(value, "beta", self._X.shape[1])

    @property
    def scale(self) -> float:
        """Overall variance s."""
        return self._params["logscale"].value

    @scale.setter
    def scale(self, value: float) -> None:
        self._params["logscale"].value = float(value)

    @property
    def delta(self) -> float:
        r"""Share δ of the variance on the identity (``[0, 1]``; kept in
        :math:`[\epsilon, 1-\epsilon]`, :math:`\epsilon\approx 1.5\cdot 10^{-8}`)."""
        return self._params["logitdelta"].value

    @delta.setter
    def delta(self, value: float) -> None:
        value = as_scalar(value, "delta", lower=0.0, upper=1.0)
        self._params["logitdelta"].value = min(max(value, DELTA_EPSILON), 1 - DELTA_EPSILON)

    def parameters(self) -> dict[str, Parameter]:
        """The parameters keyed as in ``gradient()``."""
        return dict(self._params)

    def fix(self, var_name: str) -> None:
        """Keep ``"beta"``, ``"scale"`` or ``"delta"`` out of fitting."""
        self._params[parameter_key(_KEYS, var_name, "var_name")].fix()

    def unfix(self, var_name: str) -> None:
        """Let ``"beta"``, ``"scale"`` or ``"delta"`` be fitted."""
        self._params[parameter_key(_KEYS, var_name, "var_name")].unfix()

    # -- prior ------------------------------------------------------------------------------
    def mean(self) -> np.ndarray:
        r"""Mean of the prior, :math:`\mathrm X\boldsymbol\beta`."""
        return self._X @ self.beta

    def covariance(self) -> np.ndarray:
        r"""Covariance of the prior, :math:`v_0\mathrm K + v_1\mathrm I` (dense, n×n)."""
        K = self.v0 * (self._U @ self._U.T)
        K[np.diag_indices_from(K)] += self.v1
        return K

    def _prior(self) -> LowRankPrior:
        return LowRankPrior(self.mean(), self._U, self.v0, self.v1)

    def _state(self) -> tuple:
        return tuple(p.free.tobytes() for p in self._params.values())

    def _gradient(self, algebra: SiteAlgebra) -> dict[str, Any]:
        r"""Derivatives of the Gaussian part over the free coordinates (sites fixed).

        With :math:`\mathrm K = s((1-\delta)\mathrm U\mathrm U^\intercal + \delta\mathrm I)`:
        :math:`\partial\ell/\partial\boldsymbol\beta = \mathrm X^\intercal\boldsymbol\alpha`,
        :math:`\partial\ell/\partial s = \tfrac12[(1-\delta)(\|\mathrm U^\intercal
        \boldsymbol\alpha\|^2 - \operatorname{tr}\mathrm R\mathrm U\mathrm U^\intercal)
        + \delta(\|\boldsymbol\alpha\|^2 - \operatorname{tr}\mathrm R)]` and
        :math:`\partial\ell/\partial\delta = \tfrac s2[\|\boldsymbol\alpha\|^2
        - \operatorname{tr}\mathrm R - \|\mathrm U^\intercal\boldsymbol\alpha\|^2
        + \operatorname{tr}\mathrm R\mathrm U\mathrm U^\intercal]`.
        """
        alpha = algebra.alpha()
        Ua = self._U.T @ alpha
        on_k = float(Ua @ Ua) - algebra.trace_r_uut()
        on_i = float(alpha @ alpha) - algebra.trace_r()
        s, delta = self.scale, self.delta
        d_scale = 0.5 * ((1 - delta) * on_k + delta * on_i)
        d_delta = 0.5 * s * (on_i - on_k)
        p = self._params
        return {
            "beta": self._X.T @ alpha,
            "logscale": float(p["logscale"].transform.pullback(p["logscale"].free, d_scale)[0]),
            "logitdelta": float(
                p["logitdelta"].transform.pullback(p["logitdelta"].free, d_delta)[0]
            ),
        }
