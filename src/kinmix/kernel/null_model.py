r"""The single-trait LMM kernel: pure functions of the rotated design.

Model: :math:`y \sim N(X\beta, s V)` with :math:`V = Q_0 D_0 Q_0^\top + d_1(I - Q_0Q_0^\top)`.
The two front ends choose the diagonal:

- limix's :class:`~kinmix.lmm.LMM`: :math:`D_0 = (1-\delta)S_0 + \delta`, :math:`d_1 = \delta`;
- Hail's :class:`~kinmix.lmm.LinearMixedModel`: :math:`D_0 = S + \gamma^{-1}`,
  :math:`d_1 = \gamma^{-1}`, which is the same matrix divided by :math:`1-\delta` when
  :math:`\delta = 1/(1+\gamma)`.

At fixed :math:`(D_0, d_1)` the generalised least squares solution is
:math:`\hat\beta = A^{-1}X^\top V^{-1}y` with :math:`A = X^\top V^{-1}X`, and the residual sum
of squares :math:`R(\beta) = (y - X\beta)^\top V^{-1}(y - X\beta)`. The log-likelihood is

.. math::

    \ell = -\tfrac n2 \log 2\pi - \tfrac n2 \log s - \tfrac12\log|V| - \frac{R(\beta)}{2s},

and the restricted one adds
:math:`\tfrac c2\log 2\pi + \tfrac12\log|X^\top X| - \tfrac12\log|A/s|`. The optimal scale is
:math:`R/n` (ML) or :math:`R/(n-c)` (REML). Every evaluation costs :math:`O(kc^2)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve
from scipy.optimize import brentq, minimize_scalar
from scipy.special import expit

from ..constants import COLLINEARITY_RTOL, DELTA_BOUNDS, GAMMA_BOUNDS, LOG2PI
from ..errors import FitError
from ..linalg import RotatedDesign, logdet

#: Smallest δ (and 1 − δ) of a δ search: 1/(1 + 1e5), GEMMA's λ ≤ 1e5.
DELTA_MIN = DELTA_BOUNDS[0]
#: The search range of log γ = logit(1 − δ) is ±LOG_GAMMA_LIMIT = ±log(1e5).
LOG_GAMMA_LIMIT = float(np.log(GAMMA_BOUNDS[1]))


@dataclass(frozen=True)
class Solution:
    """Generalised least squares at a fixed covariance diagonal ``(d0, d1)``."""

    d0: np.ndarray
    d1: float
    XVX: np.ndarray
    XVy: np.ndarray
    yVy: float
    beta: np.ndarray
    rss: float
    logdet: float
    XVX_cho: tuple

    def residual(self, beta: np.ndarray | None) -> float:
        """:math:`R(\\beta)`; the optimum's :math:`R(\\hat\\beta)` when ``beta`` is None."""
        if beta is None:
            return self.rss
        return float(self.yVy - 2 * beta @ self.XVy + beta @ self.XVX @ beta)

    def beta_covariance(self, scale: float) -> np.ndarray:
        """:math:`s A^{-1}`, the covariance of :math:`\\hat\\beta`."""
        return scale * cho_solve(self.XVX_cho, np.eye(self.XVX.shape[0]), check_finite=False)


def delta_diagonal(S: np.ndarray, delta: float) -> tuple[np.ndarray, float]:
    """``(d0, d1)`` of :math:`(1-\\delta)K + \\delta I`."""
    return (1.0 - delta) * S + delta, delta


def delta_from_log_gamma(log_gamma: float) -> float:
    """:math:`\\delta = 1/(1+e^{\\log\\gamma})`, computed without overflow."""
    return float(expit(-log_gamma))


def solve(design: RotatedDesign, d0: np.ndarray, d1: float) -> Solution:
    """GLS solution and the quadratic forms at a fixed diagonal (cost :math:`O(kc^2)`)."""
    if (design.complement and not d1 > 0) or not np.all(d0 > 0):
        raise FitError(
            f"the covariance is singular: delta = {d1:.6g} with a rank-deficient K (rank "
            f"{design.k} < n = {design.n}) leaves no variance on the complement of K's "
            "span. Set delta above 0 or let fit estimate it."
        )
    # One weighted Gram of [X, y] holds XᵀV⁻¹X, XᵀV⁻¹y and yᵀV⁻¹y.
    gram = design.weighted_gram(d0, d1)
    XVX, XVy, yVy = gram[:-1, :-1], gram[:-1, -1], float(gram[-1, -1])
    if design.c == 0:  # no covariates: nothing to solve
        empty = np.empty(0)
        cho = (np.empty((0, 0)), True)
        return Solution(d0, d1, XVX, XVy, yVy, empty, yVy, logdet(d0, d1, design.n), cho)
    try:
        cho = cho_factor(XVX, lower=True, check_finite=False)
        # Share of each covariate's V⁻¹-norm not explained by the ones before it.
        unexplained = np.diag(cho[0]) ** 2 / np.diag(XVX)
    except LinAlgError:
        unexplained = np.zeros(1)
    if not unexplained.min() > COLLINEARITY_RTOL:
        raise FitError("Xᵀ V⁻¹ X is singular: the covariates are collinear under this covariance.")
    beta = cho_solve(cho, XVy, check_finite=False)
    rss = float(yVy - XVy @ beta)
    return Solution(d0, d1, XVX, XVy, yVy, beta, rss, logdet(d0, d1, design.n), cho)


def _logdet_pd(cho: tuple) -> float:
    return 2.0 * float(np.sum(np.log(np.diag(cho[0]))))


def logdet_XX(design: RotatedDesign) -> float:
    """:math:`\\log|X^\\top X|`, the constant of the restricted likelihood."""
    sign, value = np.linalg.slogdet(design.XX)
    if sign <= 0:
        raise FitError("XᵀX is singular: the covariates are linearly dependent.")
    return float(value)


def dof(design: RotatedDesign, restricted: bool) -> int:
    """Degrees of freedom of the scale: n (ML) or n − c (REML)."""
    return design.n - design.c if restricted else design.n


def optimal_scale(
    design: RotatedDesign, sol: Solution, beta: np.ndarray | None, restricted: bool
) -> float:
    """The scale maximising the (restricted) likelihood at ``beta``."""
    return sol.residual(beta) / dof(design, restricted)


def log_likelihood(
    design: RotatedDesign,
    sol: Solution,
    *,
    scale: float,
    beta: np.ndarray | None,
    restricted: bool,
    logdet_xx: float = 0.0,
) -> float:
    """(Restricted) log-likelihood at the given scale and β (β̂ when ``beta`` is None)."""
    n, c = design.n, design.c
    value = -0.5 * (n * LOG2PI + n * np.log(scale) + sol.logdet + sol.residual(beta) / scale)
    if restricted:
        value += 0.5 * (c * LOG2PI + logdet_xx - _logdet_pd(sol.XVX_cho) + c * np.log(scale))
    return float(value)


def profile_log_likelihood(
    design: RotatedDesign,
    d0: np.ndarray,
    d1: float,
    *,
    restricted: bool,
    beta: np.ndarray | None = None,
    scale: float | None = None,
    logdet_xx: float = 0.0,
) -> float:
    """Log-likelihood with β and/or the scale at their optima when not given."""
    sol = solve(design, d0, d1)
    if scale is None:
        scale = optimal_scale(design, sol, beta, restricted)
    return log_likelihood(
        design, sol, scale=scale, beta=beta, restricted=restricted, logdet_xx=logdet_xx
    )


def delta_derivative(
    design: RotatedDesign,
    sol: Solution,
    *,
    scale: float,
    beta: np.ndarray,
    restricted: bool,
) -> float:
    r"""Partial derivative of :func:`log_likelihood` over δ (with :math:`V' = I - K`).

    .. math::

        \frac{\partial\ell}{\partial\delta} = -\tfrac12\operatorname{tr}(V^{-1}V')
        + \frac{r^\top V^{-1}V'V^{-1}r}{2s}
        + [\text{REML}]\;\tfrac12\operatorname{tr}(A^{-1}X^\top V^{-1}V'V^{-1}X),

    with :math:`r = y - X\beta`. :math:`V'` has eigenvalues :math:`1 - S_0` on
    :math:`Q_0` and 1 on the complement. By the envelope theorem this is also the
    derivative of the profile likelihood when β and/or s are at their optima.
    """
    d0, d1, comp = sol.d0, sol.d1, design.complement
    trace = float(np.sum((1.0 - design.S) / d0)) + ((design.n - design.k) / d1 if comp else 0.0)
    quad, XVdVX = design.derivative_forms(d0, d1, beta, restricted)
    value = -0.5 * trace + 0.5 * quad / scale
    if restricted:
        value += 0.5 * float(np.sum(sol.beta_covariance(1.0) * XVdVX))
    return value


def profile_delta_derivative(
    design: RotatedDesign,
    log_gamma: float,
    *,
    restricted: bool,
    beta: np.ndarray | None = None,
    scale: float | None = None,
) -> float:
    """:func:`delta_derivative` of the profile likelihood at δ = 1/(1 + exp(log_gamma))."""
    delta = delta_from_log_gamma(log_gamma)
    sol = solve(design, *delta_diagonal(design.S, delta))
    beta = sol.beta if beta is None else beta
    if scale is None:
        scale = optimal_scale(design, sol, beta, restricted)
    return delta_derivative(design, sol, scale=scale, beta=beta, restricted=restricted)


def polish_root(
    derivative: Callable[[float], float], x: float, bounds: tuple[float, float], step: float
) -> float:
    r"""Refine a maximiser ``x`` to the root of ``derivative`` bracketed within ``step``.

    Function values locate a smooth maximum only to about :math:`\sqrt{\epsilon}`
    relative; the root of the analytic derivative is accurate to machine precision.
    Returns ``x`` unchanged when the derivative does not change sign around it.
    """
    left, right = max(x - step, bounds[0]), min(x + step, bounds[1])
    g_left, g_right = derivative(left), derivative(right)
    if not (np.isfinite(g_left) and np.isfinite(g_right)) or g_left * g_right > 0:
        return x
    if g_left == 0.0:
        return left
    if g_right == 0.0:
        return right
    # brentq wraps its function in a closure that refers to itself: a reference cycle that
    # would keep whatever ``derivative`` holds (a model and its n×n eigenvectors) alive
    # until the cyclic collector runs. The cycle gets only this holder, emptied on return.
    holder = [derivative]
    try:
        root = brentq(
            lambda t: holder[0](t), left, right, xtol=1e-14, rtol=8 * np.finfo(float).eps
        )
    finally:
        holder.clear()
    return float(root)


@dataclass(frozen=True)
class SearchResult:
    """Outcome of a global 1-D maximisation over :math:`\\log\\gamma`."""

    x: float
    fun: float
    nfev: int
    success: bool
    message: str
    lower: float
    upper: float

    def distance_to_bounds(self) -> tuple[float, float]:
        """Distances of the optimum to the lower and the upper bound."""
        return self.x - self.lower, self.upper - self.x


def maximize_log_gamma(
    objective: Callable[[float], float],
    bounds: tuple[float, float],
    *,
    xatol: float = 1e-8,
    maxiter: int = 500,
    grid_step: float = 0.5,
) -> SearchResult:
    """Globally maximise a function of :math:`t = \\log\\gamma` on ``bounds``.

    A grid with spacing at most ``grid_step`` locates the best basin (so a multimodal
    profile cannot trap the search in a local optimum); a bounded Brent search then refines
    it between the grid neighbours to absolute tolerance ``xatol``. Both bounds themselves
    are grid points, so an optimum on a bound is found and reported as such.
    """
    lower, upper = float(bounds[0]), float(bounds[1])
    if not lower < upper:
        raise FitError(f"bounds must satisfy lower < upper; got {bounds}.")
    npoints = max(3, int(np.ceil((upper - lower) / grid_step)) + 1)
    grid = np.linspace(lower, upper, npoints)
    values = np.array([objective(t) for t in grid])
    values[~np.isfinite(values)] = -np.inf
    best = int(np.argmax(values))
    if not np.isfinite(values[best]):
        raise FitError("the likelihood is not finite anywhere on the search grid.")
    left, right = grid[max(best - 1, 0)], grid[min(best + 1, npoints - 1)]
    refined = minimize_scalar(
        lambda t: -objective(t),
        bounds=(left, right),
        method="bounded",
        options={"xatol": xatol, "maxiter": maxiter},
    )
    nfev = npoints + int(refined.nfev)
    if np.isfinite(refined.fun) and -refined.fun >= values[best]:
        x, fun = float(refined.x), float(-refined.fun)
    else:
        x, fun = float(grid[best]), float(values[best])
    return SearchResult(x, fun, nfev, bool(refined.success), str(refined.message), lower, upper)
