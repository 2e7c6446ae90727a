r"""Exact per-variant tests: δ re-estimated for every variant of a block at once.

For a variant :math:`g` the alternative is :math:`y \sim N([X, g]\theta,\ s\,V_\gamma)` with
:math:`V_\gamma = \gamma K + I` (:math:`\gamma = (1-\delta)/\delta`, the kinship's
variance ratio, GEMMA's λ). With the economic eigendecomposition
:math:`K = Q_0S_0Q_0^\top` every generalised inner product is

.. math::

    \langle a, b\rangle_t = \sum_{i\le k} u_i(t)\,(Q_0^\top a)_i (Q_0^\top b)_i
        + [k<n]\,a^\top b,\qquad
    u_i(t) = \frac{1}{e^t S_i + 1} - [k<n],\quad t = \log\gamma,

and :math:`\log|V_\gamma| = \sum_i \log(1 + e^t S_i)`. So, once the block is rotated,
the Gram matrix :math:`\Gamma(t)` of :math:`[X, g, y]` at any :math:`t` costs
:math:`O(k(c+2)^2)` per variant, and the profile likelihoods follow from it: with
:math:`A` its :math:`[X, g]` block, :math:`b` its :math:`[X, g]^\top y` column,
:math:`\hat\theta = A^{-1}b` and :math:`R = \langle y, y\rangle - b^\top\hat\theta`,

.. math::

    \ell_{ML}(t) = -\tfrac n2\bigl(\log 2\pi + 1 + \log\tfrac Rn\bigr) - \tfrac12\log|V_\gamma|,

    \ell_{REML}(t) = -\tfrac{f}{2}\bigl(\log 2\pi + 1 + \log\tfrac Rf\bigr)
        - \tfrac12\log|V_\gamma| - \tfrac12\log|A| + \tfrac12\log|[X,g]^\top[X,g]|,

with :math:`f = n - c - 1` (c covariates besides g).

The search over :math:`t` runs for all variants of a block together:

1. a grid of spacing at most 1 on the bounds; the grid's weights :math:`u(t_j)` are
   shared by all variants, so :math:`\Gamma(t_j)` of every variant is one product
   :math:`(u(t_j)\odot Q_0^\top[X,y])^\top\,Q_0^\top G` — a GEMM with
   :math:`T(c+1)` rows — plus :math:`u(t_j)^\top (Q_0^\top G)^{\odot 2}`;
2. around each variant's best grid point :math:`t_b`, on :math:`[t_{b-1}, t_{b+1}]`, the
   same products at 16 Chebyshev points. Every entry of :math:`\Gamma` and
   :math:`\log|V_\gamma|` is analytic in :math:`t` with its singularities at distance
   π from the real axis (:math:`u_i` is a logistic function of :math:`t + \log S_i`), so
   the Chebyshev interpolants agree with the exact functions to about 1e-13 relative,
   and so do their derivatives;
3. the derivative :math:`\ell'(t)` (from the interpolated :math:`\Gamma` and
   :math:`\Gamma'`) is driven to zero by a bracketed Illinois (regula falsi) iteration on
   the half of the bracket where it changes sign, vectorised over the variants, each
   with its own convergence flag.

Nothing is rotated again: the refinement costs :math:`O(m\,N(c+2)^2)` per iteration, not
:math:`O(mk)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, fdtrc

from ..linalg import RotatedDesign
from ._kernel import LOG_GAMMA_LIMIT
from ._scan import LOG2PI, chi2_sf

#: Largest spacing of the bracketing grid in t = log γ.
GRID_STEP = 1.0
#: Chebyshev points per bracket [t_{b-1}, t_{b+1}] (interpolation error ≈ 6.4^-N).
NODES = 16
#: Absolute tolerance on t = log γ of the root of ℓ'(t).
T_TOL = 1e-11
#: Iteration cap of the root search.
MAX_ITER = 100


@dataclass(frozen=True)
class ExactNull:
    r"""What the exact tests need from the null model of one trait.

    ``S`` (k,) the kept eigenvalues of K; ``QB`` (k, c+1) :math:`Q_0^\top[X, y]`;
    ``BB`` (c+1, c+1) the raw :math:`[X, y]^\top[X, y]`; ``null_lml`` the null
    log-likelihood maximised over δ by ML (for the likelihood-ratio test).
    """

    n: int
    S: np.ndarray
    QB: np.ndarray
    BB: np.ndarray
    complement: bool
    null_lml: float

    @property
    def c(self) -> int:
        """Number of covariates."""
        return int(self.QB.shape[1] - 1)


def exact_null(design: RotatedDesign, null_lml: float) -> ExactNull:
    """The :class:`ExactNull` of a rotated null design and its ML log-likelihood."""
    BB = np.empty((design.c + 1, design.c + 1))
    BB[:-1, :-1], BB[:-1, -1], BB[-1, :-1], BB[-1, -1] = design.XX, design.Xy, design.Xy, design.yy
    QB = np.column_stack([design.QX, design.Qy])
    return ExactNull(design.n, design.S, QB, BB, design.complement, float(null_lml))


@dataclass(frozen=True)
class Candidates:
    r"""Rotated single-column candidates of one block.

    ``QG`` (k, m) :math:`Q_0^\top G`; ``BG`` (c+1, m) the raw :math:`[X, y]^\top G`;
    ``GG`` (m,) :math:`g^\top g`; ``usable`` (m,) False for variants that cannot be
    tested (constant, collinear), which get harmless placeholders and NaN results.
    """

    QG: np.ndarray
    BG: np.ndarray
    GG: np.ndarray
    usable: np.ndarray


@dataclass(frozen=True)
class ExactFit:
    r"""Per-variant optimum of the ML or the REML likelihood over δ.

    ``delta`` (m,) the variant's δ (GEMMA's λ is :math:`(1-\delta)/\delta`); ``lml`` its
    (restricted) log-likelihood; ``beta``, ``se`` the variant's effect and standard error
    with the scale on ``dof`` degrees of freedom (n for ML, n − c − 1 for REML);
    ``scale`` the scale :math:`s` of the covariance :math:`s((1-\delta)K+\delta I)`;
    ``wald`` :math:`\hat\beta^2/\mathrm{se}^2`; ``converged`` whether the derivative's
    root was bracketed and found (or the optimum is on a bound with the slope pointing out).
    """

    delta: np.ndarray
    lml: np.ndarray
    beta: np.ndarray
    se: np.ndarray
    scale: np.ndarray
    wald: np.ndarray
    converged: np.ndarray


# -- the Gram matrix of [X, g, y] at given t -------------------------------------------------
def _weights(null: ExactNull, t: np.ndarray) -> np.ndarray:
    """:math:`u_i(t)` for each t: shape (T, k)."""
    w = 1.0 / (np.exp(t)[:, None] * null.S[None, :] + 1.0)
    return w - 1.0 if null.complement else w


def _weight_derivatives(null: ExactNull, t: np.ndarray) -> np.ndarray:
    """:math:`u_i'(t) = -w_i(1 - w_i)` with :math:`w_i = 1/(e^tS_i+1)`: shape (T, k)."""
    w = 1.0 / (np.exp(t)[:, None] * null.S[None, :] + 1.0)
    return -w * (1.0 - w)


def _log_det(null: ExactNull, t: np.ndarray) -> np.ndarray:
    """:math:`\\log|V_\\gamma|` at each t (the complement contributes 0)."""
    return np.log1p(np.exp(t)[:, None] * null.S[None, :]).sum(axis=1)


def grams(null: ExactNull, cand: Candidates, QG2: np.ndarray, t: np.ndarray) -> np.ndarray:
    r"""Gram matrices :math:`\Gamma(t_j)` of :math:`[X, g, y]`: shape (T, m, c+2, c+2).

    ``QG2`` is :math:`(Q_0^\top G)^{\odot 2}` (k, m). One GEMM of :math:`T(c+1)` rows
    gives every cross-product with g; the :math:`[X, y]` block is shared by the variants.
    """
    return _assemble(null, cand, QG2, _weights(null, t), raw=null.complement)


def _assemble(
    null: ExactNull, cand: Candidates, QG2: np.ndarray, u: np.ndarray, *, raw: bool
) -> np.ndarray:
    T, k = u.shape
    c, m = null.c, cand.QG.shape[1]
    QB = null.QB
    shared = np.einsum("tk,ka,kb->tab", u, QB, QB)
    weighted = (u[:, :, None] * QB[None]).transpose(0, 2, 1).reshape(T * (c + 1), k)
    cross = (weighted @ cand.QG).reshape(T, c + 1, m)
    gg = u @ QG2
    if raw:
        shared = shared + null.BB[None]
        cross = cross + cand.BG[None]
        gg = gg + cand.GG[None]
    out = np.empty((T, m, c + 2, c + 2))
    order = [*range(c), c + 1]  # positions of X and y in [X, g, y]
    out[:, :, np.ix_(order, order)[0], np.ix_(order, order)[1]] = shared[:, None]
    out[:, :, c, order] = cross.transpose(0, 2, 1)
    out[:, :, order, c] = cross.transpose(0, 2, 1)
    out[:, :, c, c] = gg
    _patch(out, cand.usable, c)
    return out


def _patch(gram: np.ndarray, usable: np.ndarray, c: int) -> None:
    """Give untestable variants an orthogonal unit column, so every solve stays regular."""
    bad = ~usable
    if bad.any():
        gram[:, bad, c, :] = 0.0
        gram[:, bad, :, c] = 0.0
        gram[:, bad, c, c] = 1.0


# -- profile likelihoods from Γ --------------------------------------------------------------
@dataclass(frozen=True)
class _Profile:
    value: np.ndarray  # the objective without its constant
    slope: np.ndarray | None
    beta: np.ndarray  # the variant's effect
    schur: np.ndarray  # ⟨g, g⟩ less its part explained by X: 1/(A⁻¹)_gg
    rss: np.ndarray


def _cholesky(gram: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack of small matrices (NaN where not positive)."""
    p = gram.shape[-1]
    L = np.zeros_like(gram)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(p):
            pivot = gram[..., j, j] - np.einsum("...k,...k->...", L[..., j, :j], L[..., j, :j])
            L[..., j, j] = np.sqrt(np.where(pivot > 0, pivot, np.nan))
            below = gram[..., j + 1 :, j] - np.einsum(
                "...ik,...k->...i", L[..., j + 1 :, :j], L[..., j, :j]
            )
            L[..., j + 1 :, j] = below / L[..., j, j][..., None]
    return L


def _profile(
    gram: np.ndarray,
    logdet: np.ndarray,
    n: int,
    restricted: bool,
    dgram: np.ndarray | None = None,
    dlogdet: np.ndarray | None = None,
) -> _Profile:
    r"""ℓ(t) up to a constant (and ℓ'(t) when the derivatives are given), batched.

    The Cholesky factor :math:`L` of :math:`\Gamma` (order :math:`[X, g, y]`) gives
    :math:`R = L_{yy}^2`, :math:`\log|A| = 2\sum\log L_{jj}` and the variant's Schur
    complement :math:`L_{gg}^2`. Unlike :math:`\langle y,y\rangle - b^\top A^{-1}b`, it
    stays accurate when :math:`A` is ill-conditioned, as it is at large γ when a column of
    X lies in the kernel of K (the intercept with a centred kinship).
    """
    c1 = gram.shape[-1] - 1
    L = _cholesky(gram)
    diag = np.diagonal(L, axis1=-2, axis2=-1)
    rss = diag[..., c1] ** 2
    schur = diag[..., c1 - 1] ** 2
    beta = L[..., c1, c1 - 1] / diag[..., c1 - 1]
    dof = n - c1 if restricted else n
    with np.errstate(invalid="ignore", divide="ignore"):
        value = -0.5 * dof * np.log(rss) - 0.5 * logdet
        if restricted:
            value = value - np.log(diag[..., :c1]).sum(axis=-1)
    slope = None
    if dgram is not None:
        L_inv = np.linalg.inv(np.where(np.isfinite(L[..., :c1, :c1]), L[..., :c1, :c1], 0.0))
        # θ = A⁻¹b = L_A⁻ᵀ l_y; the residual's coefficients [-θ, 1] in [X, g, y].
        theta = np.einsum("...ba,...b->...a", L_inv, L[..., c1, :c1])
        coef = np.concatenate([-theta, np.ones((*theta.shape[:-1], 1))], axis=-1)
        drss = np.einsum("...a,...ab,...b->...", coef, dgram, coef)
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = -0.5 * dof * drss / rss - 0.5 * dlogdet
        if restricted:
            dA = dgram[..., :c1, :c1]
            slope = slope - 0.5 * np.einsum("...ia,...ab,...ib->...", L_inv, dA, L_inv)
    return _Profile(value, slope, beta, schur, rss)


# -- Chebyshev interpolation on a bracket ----------------------------------------------------
def _chebyshev(npoints: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points of the second kind on [-1, 1], barycentric weights, differentiation matrix."""
    j = np.arange(npoints)
    x = np.cos(np.pi * j / (npoints - 1))
    w = (-1.0) ** j
    w[0] *= 0.5
    w[-1] *= 0.5
    scale = np.where((j == 0) | (j == npoints - 1), 2.0, 1.0) * (-1.0) ** j
    diff = x[:, None] - x[None, :] + np.eye(npoints)
    D = np.outer(scale, 1.0 / scale) / diff
    D -= np.diag(D.sum(axis=1))
    return x, w, D


_X, _W, _D = _chebyshev(NODES)


def _barycentric(x: np.ndarray) -> np.ndarray:
    """Interpolation weights (m, N) at the points x (m,) of [-1, 1]."""
    diff = x[:, None] - _X[None, :]
    diff[diff == 0.0] = 1e-300  # a node itself: its weight dominates the sum
    ratio = _W[None, :] / diff
    return ratio / ratio.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class _Bracket:
    """Γ, Γ', log|V|, log|V|' at the Chebyshev points of [lo, hi] for some variants."""

    lo: float
    hi: float
    gram: np.ndarray  # (N, m, c+2, c+2)
    dgram: np.ndarray
    logdet: np.ndarray  # (N,)
    dlogdet: np.ndarray

    def take(self, idx: np.ndarray) -> _Bracket:
        """The same bracket for the variants ``idx`` only."""
        return _Bracket(
            self.lo, self.hi, self.gram[:, idx], self.dgram[:, idx], self.logdet, self.dlogdet
        )

    def at(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Interpolated (Γ, Γ', log|V|, log|V|') at one t per variant."""
        half = 0.5 * (self.hi - self.lo)
        weights = _barycentric(np.clip((t - self.lo) / half - 1.0, -1.0, 1.0))
        gram = np.einsum("mn,nmab->mab", weights, self.gram)
        dgram = np.einsum("mn,nmab->mab", weights, self.dgram)
        return gram, dgram, weights @ self.logdet, weights @ self.dlogdet


def _bracket(null: ExactNull, cand: Candidates, QG2: np.ndarray, lo: float, hi: float) -> _Bracket:
    half = 0.5 * (hi - lo)
    t = lo + half * (_X + 1.0)
    gram = grams(null, cand, QG2, t)
    dgram = _assemble(null, cand, QG2, _weight_derivatives(null, t), raw=False)
    dgram[:, ~cand.usable] = 0.0
    logdet = _log_det(null, t)
    # log|V|' = Σ e^t S/(1 + e^t S) exactly; Γ' from the weights' derivative, also exact.
    dlogdet = (1.0 - 1.0 / (np.exp(t)[:, None] * null.S[None, :] + 1.0)).sum(axis=1)
    return _Bracket(lo, hi, gram, dgram, logdet, dlogdet)


def _subset(cand: Candidates, QG2: np.ndarray, idx: np.ndarray) -> tuple[Candidates, np.ndarray]:
    sub = Candidates(cand.QG[:, idx], cand.BG[:, idx], cand.GG[idx], cand.usable[idx])
    return sub, QG2[:, idx]


# -- the search ------------------------------------------------------------------------------
def _root(
    bracket: _Bracket, n: int, restricted: bool, t_best: np.ndarray, bounds: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Maximiser of ℓ on the bracket for each variant and whether it converged."""

    def slope(t: np.ndarray) -> np.ndarray:
        g, dg, ld, dld = bracket.at(t)
        return _profile(g, ld, n, restricted, dg, dld).slope

    s_mid = slope(t_best)
    up = s_mid > 0  # ℓ still rising at the best grid point: the optimum lies above it
    a = t_best.copy()
    b = np.where(up, bracket.hi, bracket.lo)
    fa, fb = s_mid, slope(b)
    on_bound = ((t_best <= bounds[0]) & ~up) | ((t_best >= bounds[1]) & up) | (s_mid == 0)
    signed = (fa * fb < 0) & ~on_bound
    converged = on_bound.copy()
    t = t_best.copy()
    if not signed.any():
        return t, converged
    idx = np.flatnonzero(signed)
    a, b, fa, fb = a[idx], b[idx], fa[idx], fb[idx]
    sub = bracket.take(idx)
    done = np.zeros(idx.size, dtype=bool)
    x = a.copy()
    for _ in range(MAX_ITER):
        # Illinois step: regula falsi with the retained end's slope halved when it stays.
        x_new = np.where(done, x, b - fb * (b - a) / (fb - fa))
        g, dg, ld, dld = sub.at(x_new)
        fx = _profile(g, ld, n, restricted, dg, dld).slope
        same = fx * fb > 0
        a_new = np.where(same, a, b)
        fa_new = np.where(same, 0.5 * fa, fb)
        a = np.where(done, a, a_new)
        fa = np.where(done, fa, fa_new)
        b = np.where(done, b, x_new)
        fb = np.where(done, fb, fx)
        done |= (np.abs(b - a) < T_TOL) | (fx == 0.0) | (np.abs(x_new - x) < 0.1 * T_TOL)
        x = x_new
        if done.all():
            break
    t[idx] = x
    converged[idx] = done
    return t, converged


def fit_delta(
    null: ExactNull,
    cand: Candidates,
    *,
    restricted: tuple[bool, ...] = (True, False),
    bounds: tuple[float, float] = (-LOG_GAMMA_LIMIT, LOG_GAMMA_LIMIT),
) -> list[ExactFit]:
    r"""Maximise each variant's REML and/or ML likelihood over δ, all variants at once.

    One :class:`ExactFit` per entry of ``restricted`` (True: REML, False: ML), in order;
    the fits share the grid and every bracket evaluation. ``bounds`` are on
    :math:`t = \log\gamma`.
    """
    n, c, m = null.n, null.c, cand.QG.shape[1]
    QG2 = np.square(cand.QG)
    t_grid, gram_grid = make_grid(null, cand, QG2, bounds)
    logdet_grid = _log_det(null, t_grid)[:, None]
    best = []
    for reml in restricted:
        values = _profile(gram_grid, logdet_grid, n, reml).value
        best.append(np.argmax(np.where(np.isfinite(values), values, -np.inf), axis=0))
    del gram_grid
    t = np.empty((len(restricted), m))
    converged = np.zeros((len(restricted), m), dtype=bool)
    gram = np.empty((len(restricted), m, c + 2, c + 2))
    logdet = np.empty((len(restricted), m))
    last = t_grid.size - 1
    for b in np.unique(np.concatenate(best)):
        union = np.flatnonzero(np.any([choice == b for choice in best], axis=0))
        sub, sub2 = _subset(cand, QG2, union)
        bracket = _bracket(null, sub, sub2, t_grid[max(b - 1, 0)], t_grid[min(b + 1, last)])
        for j, reml in enumerate(restricted):
            mine = np.flatnonzero(best[j][union] == b)
            if mine.size == 0:
                continue
            part = bracket.take(mine)
            t_b, ok = _root(part, n, reml, np.full(mine.size, t_grid[b]), bounds)
            g, _, ld, _ = part.at(t_b)
            idx = union[mine]
            t[j, idx], converged[j, idx], gram[j, idx], logdet[j, idx] = t_b, ok, g, ld
    return [
        _statistics(null, cand, t[j], converged[j], gram[j], logdet[j], reml)
        for j, reml in enumerate(restricted)
    ]


def make_grid(
    null: ExactNull, cand: Candidates, QG2: np.ndarray, bounds: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Grid points of spacing at most :data:`GRID_STEP` on ``bounds`` and their Γ."""
    npoints = max(3, int(np.ceil((bounds[1] - bounds[0]) / GRID_STEP)) + 1)
    t = np.linspace(bounds[0], bounds[1], npoints)
    return t, grams(null, cand, QG2, t)


def _statistics(
    null: ExactNull,
    cand: Candidates,
    t: np.ndarray,
    converged: np.ndarray,
    gram: np.ndarray,
    logdet: np.ndarray,
    restricted: bool,
) -> ExactFit:
    n, c = null.n, null.c
    prof = _profile(gram, logdet, n, restricted)
    dof = n - c - 1 if restricted else n
    lml = prof.value - 0.5 * dof * (LOG2PI + 1.0 - np.log(dof))
    if restricted:
        lml = lml + 0.5 * _log_det_raw(null, cand)
    gamma = np.exp(t)
    delta = expit(-t)
    resid_var = prof.rss / dof  # on the scale of V_γ = γK + I = (1 + γ)V_δ
    beta = prof.beta
    se = np.sqrt(resid_var / prof.schur)
    bad = ~cand.usable
    nan = np.where(bad, np.nan, 1.0)
    return ExactFit(
        delta=delta * nan,
        lml=lml * nan,
        beta=beta * nan,
        se=se * nan,
        scale=resid_var * (1.0 + gamma) * nan,
        wald=(beta / se) ** 2 * nan,
        converged=converged & cand.usable,
    )


def _log_det_raw(null: ExactNull, cand: Candidates) -> np.ndarray:
    r""":math:`\log|[X, g]^\top[X, g]|` per variant (the REML constant)."""
    c, m = null.c, cand.GG.shape[0]
    M = np.empty((m, c + 1, c + 1))
    M[:, :c, :c] = null.BB[:c, :c]
    M[:, :c, c] = cand.BG[:c].T
    M[:, c, :c] = cand.BG[:c].T
    M[:, c, c] = cand.GG
    M[~cand.usable] = np.eye(c + 1)
    return np.linalg.slogdet(M)[1]


# -- test statistics and p-values -------------------------------------------------------------
def f_sf(stat: np.ndarray, dof: int) -> np.ndarray:
    """Survival function of F(1, dof)."""
    return fdtrc(1.0, dof, stat)


def fixed_delta_statistics(chi2_lrt: np.ndarray, n: int, c: int) -> dict[str, np.ndarray]:
    r"""Wald, F and score statistics of a fixed-δ scan from its LRT :math:`n\log(R_0/R_1)`.

    With :math:`R_0 - R_1 = u^2/S` (the variant's squared projected effect):

    - Wald (scale :math:`R_1/n`): :math:`\hat\beta^2/\mathrm{se}^2 = n(R_0-R_1)/R_1`;
    - F (scale :math:`R_1/(n-c-1)`): :math:`(n-c-1)(R_0-R_1)/R_1`;
    - score (GEMMA's, at the null δ): :math:`n(R_0-R_1)/R_0`.
    """
    ratio = chi2_lrt / n  # log(R0/R1)
    gain = np.expm1(ratio)  # (R0 - R1)/R1
    return {
        "wald": n * gain,
        "f": (n - c - 1) * gain,
        "score": -n * np.expm1(-ratio),
    }


def pvalues(stat: np.ndarray, test: str, n: int, c: int) -> np.ndarray:
    """p-value of a statistic: χ²₁ for ``lrt`` and ``wald``, F(1, n−c−1) otherwise."""
    if test in ("lrt", "wald"):
        return chi2_sf(stat, 1)
    return f_sf(stat, n - c - 1)
