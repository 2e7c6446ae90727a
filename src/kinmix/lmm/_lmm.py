r"""limix's single-trait linear mixed model, :class:`LMM`."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .._validate import (
    as_matrix,
    as_scalar,
    as_vector,
    check_full_column_rank,
    check_not_fitted_exactly,
    check_samples,
)
from ..errors import InputError
from ..kernel import null_fit as kernel_null
from ..kernel import null_model as kernel
from ..linalg import inner, unpack_qs
from ..params import DeltaScaleVariances, FitResult, parameter_key

log = logging.getLogger(__name__)

_PARAMETERS = {"delta": "delta", "beta": "beta", "scale": "scale"}


class LMM(DeltaScaleVariances):
    r"""Linear mixed model fitted by (restricted) maximum likelihood.

    .. math::

        y \sim N\bigl(X\beta,\; s((1-\delta)K + \delta I)\bigr),

    so the variance components are :math:`v_0 = s(1-\delta)` on :math:`K` and
    :math:`v_1 = s\delta` on the identity. With the economic eigendecomposition
    :math:`K = Q_0S_0Q_0^\top` (:math:`k` eigenpairs) every likelihood evaluation costs
    :math:`O(kc^2)` after a one-off :math:`O(nkc)` rotation; :math:`Q_1` is never used.

    Parameters
    ----------
    y : array_like, shape (n,)
        Outcome.
    X : array_like, shape (n, c)
        Covariates (include a column of ones for an intercept). Must have full column rank.
    QS : tuple, optional
        ``((Q0, Q1), S0)`` from :func:`kinmix.economic_qs` or
        :func:`kinmix.economic_qs_linear`. ``None`` means no random effect (:math:`K = 0`;
        δ is then fixed at 1).
    restricted : bool
        Maximise the restricted (REML) likelihood instead of the likelihood.

    Notes
    -----
    :meth:`fit` maximises over δ by a grid over :math:`\log\gamma = \log((1-\delta)/\delta)`
    followed by a bounded Brent refinement, profiling β and the scale when they are free.
    δ is searched in :math:`[\epsilon^{1/2}, 1 - \epsilon^{1/2}]`; an optimum on that
    boundary triggers a :class:`kinmix.BoundaryWarning` stating the value.

    When the column space of X meets the null space of K — a centred GRM with an intercept:
    :math:`K\mathbf 1 = 0` — the residual vanishes along that direction and the (non
    restricted) likelihood grows without bound as δ → 0. The search then ends on the
    boundary and the warning says so; use ``restricted=True``, whose likelihood integrates
    the covariates out and has no such spike.
    """

    def __init__(self, y: Any, X: Any, QS: Any = None, restricted: bool = False) -> None:
        y = as_vector(y, "y")
        n = y.shape[0]
        X = as_matrix(X, "X", nrows=n)
        check_samples(n, X.shape[1])
        check_full_column_rank(X, "X")
        check_not_fitted_exactly(y, X)
        if QS is None:
            Q0, S0 = np.empty((n, 0)), np.empty(0)
        else:
            Q0, S0 = unpack_qs(QS, n)
        self._setup(kernel_null.NullFit.of(y, X, Q0, S0, restricted=restricted))

    def _setup(self, null: kernel_null.NullFit) -> None:
        self._null = null
        self._design = null.design
        self._fixed: set[str] = set() if null.has_kinship else {"delta"}
        self._delta = 0.5 if null.has_kinship else 1.0
        self._scale = 1.0
        self._beta = np.zeros(null.X.shape[1])

    # -- parameters ----------------------------------------------------------------------
    def fix(self, param: str) -> None:
        """Keep ``param`` ("delta", "beta" or "scale") at its current value in :meth:`fit`."""
        self._fixed.add(parameter_key(_PARAMETERS, param, "param"))

    def unfix(self, param: str) -> None:
        """Let :meth:`fit` optimise ``param`` ("delta", "beta" or "scale")."""
        name = parameter_key(_PARAMETERS, param, "param")
        if name == "delta" and self._design.k == 0:
            raise InputError("delta cannot be unfixed: the model has no random effect (QS=None).")
        self._fixed.discard(name)

    @property
    def delta(self) -> float:
        """Share δ of the identity in the covariance, in [0, 1]."""
        return self._delta

    @delta.setter
    def delta(self, value: float) -> None:
        self._delta = as_scalar(value, "delta", lower=0.0, upper=1.0)

    @property
    def scale(self) -> float:
        """Overall scale s of the covariance."""
        return self._scale

    @scale.setter
    def scale(self, value: float) -> None:
        self._scale = as_scalar(value, "scale", lower=0.0, open_lower=True)

    @property
    def beta(self) -> np.ndarray:
        r"""Fixed-effect sizes :math:`\beta`."""
        return self._beta.copy()

    @beta.setter
    def beta(self, value: Any) -> None:
        self._beta = as_vector(value, "beta", size=self.ncovariates)

    @property
    def X(self) -> np.ndarray:
        """Covariates."""
        return self._null.X

    @property
    def ncovariates(self) -> int:
        """Number of covariates, c."""
        return int(self._null.X.shape[1])

    @property
    def nsamples(self) -> int:
        """Number of samples, n."""
        return int(self._null.y.shape[0])

    # -- evaluation ----------------------------------------------------------------------
    def _solution(self) -> kernel.Solution:
        return self._null.solution(self._delta)

    @property
    def beta_covariance(self) -> np.ndarray:
        r"""Covariance of :math:`\hat\beta`: :math:`(X^\top (sV)^{-1} X)^{-1}`."""
        return self._solution().beta_covariance(self._scale)

    def covariance(self) -> np.ndarray:
        r"""Dense covariance :math:`v_0K + v_1I` (an :math:`n\times n` matrix)."""
        Q0, S0 = self._null.Q0, self._design.S
        return (Q0 * (self.v0 * S0)) @ Q0.T + self.v1 * np.eye(self.nsamples)

    def mean(self) -> np.ndarray:
        r"""Mean :math:`X\beta`."""
        return self._null.X @ self._beta

    def lml(self) -> float:
        """Log of the (restricted) marginal likelihood at the current parameters."""
        return self._null.log_likelihood(self._delta, self._scale, self._beta)

    def value(self) -> float:
        """Same as :meth:`lml` (the objective that :meth:`fit` maximises)."""
        return self.lml()

    def gradient(self) -> dict[str, np.ndarray | float]:
        r"""Derivatives of :meth:`lml` over "delta", "scale" and "beta".

        With residual :math:`r = y - X\beta` and :math:`c_R` = c under REML, 0 otherwise:

        .. math::

            \frac{\partial\ell}{\partial\beta} = \frac{X^\top V^{-1}r}{s},\quad
            \frac{\partial\ell}{\partial s} = -\frac{n - c_R}{2s} + \frac{r^\top V^{-1}r}{2s^2},

        and the δ derivative of :func:`kinmix.kernel.null_model.delta_derivative`.
        """
        des, s, beta = self._design, self._scale, self._beta
        sol = self._solution()
        Qr = des.Qy - des.QX @ beta
        XVr = inner(des.QX, Qr, des.Xy - des.XX @ beta, sol.d0, sol.d1, des.complement)
        c_r = des.c if self._null.restricted else 0
        grad_scale = -0.5 * (des.n - c_r) / s + 0.5 * sol.residual(beta) / s**2
        grad_delta = kernel.delta_derivative(
            des, sol, scale=s, beta=beta, restricted=self._null.restricted
        )
        return {"delta": grad_delta, "scale": grad_scale, "beta": XVr / s}

    # -- fitting -------------------------------------------------------------------------
    def fit(self, verbose: bool = True) -> FitResult:
        """Maximise the (restricted) marginal likelihood over the free parameters.

        ``verbose`` is accepted for compatibility with limix; the fit is a one-dimensional
        search that takes milliseconds, so it only logs its result (``logging`` at INFO).

        Returns
        -------
        FitResult
            The frozen outcome (limix returned nothing). The δ search is derivative-free,
            so ``n_iterations`` and ``n_evaluations`` both count its likelihood evaluations
            (the grid, then the Brent refinement); with δ fixed, β and the scale have
            closed forms: no iteration and one evaluation. ``value`` is :meth:`lml` at the
            fit.
        """
        free_beta = "beta" not in self._fixed
        free_scale = "scale" not in self._fixed
        converged, evaluations, message = True, 1, "delta fixed: beta and scale in closed form"
        if "delta" not in self._fixed:
            found = self._null.search_delta(
                beta=None if free_beta else self._beta,
                scale=None if free_scale else self._scale,
                start=self._delta,
            )
            self._delta, search = found.delta, found.search
            if search is None:
                message = "delta unidentifiable (K proportional to I): kept at its value"
            else:
                converged, evaluations, message = search.success, search.nfev, search.message
        sol = self._solution()
        if free_beta:
            self._beta = sol.beta.copy()
        if free_scale:
            restricted = self._null.restricted
            self._scale = kernel.optimal_scale(self._design, sol, self._beta, restricted)
        lml = self.lml()
        if verbose:
            log.info("LMM fit: delta=%.6g scale=%.6g lml=%.6f", self._delta, self._scale, lml)
        iterations = 0 if "delta" in self._fixed else evaluations
        return FitResult(converged, iterations, evaluations, message, lml)

    def get_fast_scanner(self):
        """A :class:`~kinmix.lmm.FastScanner` at the current variance components."""
        from ._fast_scanner import FastScanner

        return FastScanner._from_null(self._null, self.v0, self.v1)
