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

1. a grid of spacing at most 2 on the bounds; the grid's weights :math:`u(t_j)` are
   shared by all variants, so :math:`\Gamma(t_j)` of every variant is one product
   :math:`(u(t_j)\odot Q_0^\top[X,y])^\top\,Q_0^\top G` — a GEMM with
   :math:`T(c+1)` rows — plus :math:`u(t_j)^\top (Q_0^\top G)^{\odot 2}`;
2. around each variant's best grid point :math:`t_b`, on :math:`[t_{b-1}, t_{b+1}]`, the
   same products at 24 Chebyshev points. Every entry of :math:`\Gamma` and
   :math:`\log|V_\gamma|` is analytic in :math:`t` with its singularities at distance
   π from the real axis (:math:`u_i` is a logistic function of :math:`t + \log S_i`), so
   on a bracket of half-width 2 the Chebyshev interpolants converge like
   :math:`\rho^{-N}`, :math:`\rho = \pi/2 + \sqrt{\pi^2/4 + 1} \approx 3.4`: about
   1e-13 relative at N = 24. Their derivatives (the Chebyshev differentiation matrix,
   no further GEMM) lose a factor of order :math:`N^2`;
3. at the same points the pivots of :math:`\Gamma` — the Schur complement :math:`S` of g,
   its projected effect :math:`u`, the null residual :math:`R_0` and :math:`\log|A_0|` —
   give ℓ as a scalar function of five interpolated quantities, with ℓ′ and ℓ″ from
   their interpolants' derivatives (an :math:`O(mN)` evaluation). Safeguarded Newton
   iterations on this *smooth model* (bisection whenever a step leaves the shrinking
   half-bracket where ℓ′ changes sign) find its root in a few steps. These quantities
   are analytic only where :math:`\langle X, X\rangle` stays regular, which is
   guaranteed on the narrower strip :math:`|\operatorname{Im} t| < \pi/2` (there every
   :math:`u_i` has a positive real part), so the model alone is not trusted to 1e-13;
4. the exact slope — ℓ′ from the interpolated :math:`\Gamma` and :math:`\Gamma'`, as
   accurate as step 2 — then polishes the root by Newton steps with the model's
   curvature; a variant is done when such a step moves t by less than 1e-9 (the error
   left is that step times the relative error of the curvature). A variant whose
   polish does not settle falls back to a bracketed Illinois (regula falsi) iteration
   on the exact slope. Each variant has its own convergence flag.

Nothing is rotated again: the refinement costs :math:`O(mN)` per model step and
:math:`O(m\,N(c+2)^2)` per exact step, not :math:`O(mk)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, fdtrc

from ..constants import LOG2PI
from ..linalg import RotatedDesign
from .association import chi2_sf
from .null_model import LOG_GAMMA_LIMIT

#: Largest spacing of the bracketing grid in t = log γ.
GRID_STEP = 2.0
#: Chebyshev points per bracket [t_{b-1}, t_{b+1}] (interpolation error ≈ 3.4^-N).
NODES = 24
#: Newton on the smooth model stops when a step moves t = log γ by less than this.
MODEL_TOL = 1e-12
#: An exact Newton step this small (in t) ends a variant's search.
POLISH_TOL = 1e-9
#: Exact Newton steps before falling back to regula falsi on the exact slope.
POLISH_STEPS = 3
#: Absolute tolerance on t of the fallback's root of ℓ'(t).
T_TOL = 1e-11
#: Iteration cap of each root search.
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


# -- the inner products of [X, g, y] at given t ----------------------------------------------
@dataclass(frozen=True)
class _Parts:
    r"""Generalised inner products at some t: shared ones and per-variant ones, packed.

    ``shared`` (..., c² + c + 2) holds :math:`\langle X,X\rangle`, :math:`\langle X,y\rangle`,
    :math:`\langle y,y\rangle` and :math:`\log|V_\gamma|`, the same for every variant at a
    given t (leading shape (1, T) at shared points, (m,) once each variant has its own t);
    ``own`` ((m, T) or (m,), c + 2) holds each variant's :math:`\langle X,g\rangle`,
    :math:`\langle g,y\rangle`, :math:`\langle g,g\rangle`. Packing makes each
    interpolation two products instead of seven.
    """

    shared: np.ndarray
    own: np.ndarray

    @property
    def c(self) -> int:
        """Number of covariates."""
        return self.own.shape[-1] - 2

    @property
    def XX(self) -> np.ndarray:
        c = self.c
        return self.shared[..., : c * c].reshape((*self.shared.shape[:-1], c, c))

    @property
    def Xy(self) -> np.ndarray:
        c = self.c
        return self.shared[..., c * c : c * c + c]

    @property
    def yy(self) -> np.ndarray:
        return self.shared[..., -2]

    @property
    def logdet(self) -> np.ndarray:
        return self.shared[..., -1]

    @property
    def Xg(self) -> np.ndarray:
        return self.own[..., : self.c]

    @property
    def gy(self) -> np.ndarray:
        return self.own[..., -2]

    @property
    def gg(self) -> np.ndarray:
        return self.own[..., -1]

    def take(self, idx: np.ndarray) -> _Parts:
        """The same points for the variants ``idx`` (axis 0) only."""
        return _Parts(self.shared, self.own[idx])


def _logistic(null: ExactNull, t: np.ndarray) -> np.ndarray:
    """:math:`w_i(t) = 1/(e^tS_i + 1)`: shape (T, k)."""
    return 1.0 / (np.exp(t)[:, None] * null.S[None, :] + 1.0)


def _parts(null: ExactNull, cand: Candidates, QG2: np.ndarray, t: np.ndarray) -> _Parts:
    r"""Inner products at the points ``t`` (T,), for all variants.

    ``QG2`` is :math:`(Q_0^\top G)^{\odot 2}` (k, m). One GEMM of :math:`T(c+1)` rows gives
    every cross-product with g; the :math:`[X, y]` block is shared by the variants.
    """
    w = _logistic(null, t)
    u, raw = (w - 1.0 if null.complement else w), null.complement
    logdet = np.log1p(np.exp(t)[:, None] * null.S[None, :]).sum(axis=1)
    T, k = u.shape
    c, m, QB = null.c, cand.QG.shape[1], null.QB
    weighted = u[:, None, :] * QB.T[None]  # (T, c+1, k)
    shared = np.matmul(weighted, QB)
    # Variant-major products (m × k @ k × T(c+1)), written field-major per variant so that
    # each field's T values are contiguous for the interpolation.
    own = np.empty((m, c + 2, T))
    cross = own[:, : c + 1, :]
    np.matmul(
        cand.QG.T,
        weighted.transpose(1, 0, 2).reshape((c + 1) * T, k).T,
        out=cross.reshape(m, (c + 1) * T),
    )
    gg = own[:, c + 1, :]
    np.matmul(QG2.T, u.T, out=gg)
    if raw:
        shared += null.BB[None]
        cross += cand.BG.T[:, :, None]
        gg += cand.GG[:, None]
    bad = ~cand.usable
    if bad.any():  # untestable variants: an orthogonal unit column keeps every solve regular
        cross[bad] = 0.0
        gg[bad] = 1.0
    packed = np.concatenate(
        [shared[:, :c, :c].reshape(T, c * c), shared[:, :c, c], shared[:, c, c:], logdet[:, None]],
        axis=1,
    )
    return _Parts(packed[None], own.transpose(0, 2, 1))


# -- profile likelihoods ---------------------------------------------------------------------
@dataclass(frozen=True)
class _Profile:
    value: np.ndarray  # the objective without its constant
    slope: np.ndarray | None
    beta: np.ndarray  # the variant's effect
    schur: np.ndarray  # ⟨g, g⟩ less its part explained by X: 1/(A⁻¹)_gg
    rss: np.ndarray


def _cholesky(A: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack of small matrices (NaN where not positive)."""
    p = A.shape[-1]
    L = np.zeros(A.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(p):
            pivot = A[..., j, j] - np.einsum("...k,...k->...", L[..., j, :j], L[..., j, :j])
            L[..., j, j] = np.sqrt(np.where(pivot > 0, pivot, np.nan))
            below = A[..., j + 1 :, j] - np.einsum(
                "...ik,...k->...i", L[..., j + 1 :, :j], L[..., j, :j]
            )
            L[..., j + 1 :, j] = below / L[..., j, j][..., None]
    return L


def _lower_inverse(L: np.ndarray) -> np.ndarray:
    """Inverses of a stack of small lower-triangular matrices, by forward substitution."""
    p = L.shape[-1]
    inv = np.zeros(L.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(p):
            inv[..., j, j] = 1.0 / L[..., j, j]
            for i in range(j + 1, p):
                dot = np.einsum("...k,...k->...", L[..., i, j:i], inv[..., j:i, j])
                inv[..., i, j] = -dot / L[..., i, i]
    return inv


@dataclass(frozen=True)
class _Pivots:
    r"""The pivots of the Cholesky factor of the Gram matrix of :math:`[X, g, y]`.

    ``L`` and ``L_inv`` the factor of :math:`A_0 = \langle X, X\rangle` and its inverse,
    :math:`l_y = L^{-1}\langle X, y\rangle`, :math:`l_g = L^{-1}\langle X, g\rangle`, the
    variant's Schur complement :math:`S = \langle g,g\rangle - \|l_g\|^2` (NaN where not
    positive), its projected effect :math:`u = \langle g,y\rangle - l_g^\top l_y` and the
    null residual :math:`R_0 = \langle y,y\rangle - \|l_y\|^2`.
    """

    L: np.ndarray
    L_inv: np.ndarray
    l_y: np.ndarray
    l_g: np.ndarray
    schur: np.ndarray
    u: np.ndarray
    rss0: np.ndarray

    @property
    def logdet_A0(self) -> np.ndarray:
        """:math:`\\log|A_0|`."""
        return 2.0 * np.log(np.diagonal(self.L, axis1=-2, axis2=-1)).sum(-1)


def _pivots(p: _Parts) -> _Pivots:
    L = _cholesky(p.XX)
    L_inv = _lower_inverse(L)
    l_y = np.einsum("...ab,...b->...a", L_inv, p.Xy)
    if L_inv.shape[0] == 1 and p.Xg.ndim == 3:  # shared points: one small product per point
        l_g = np.matmul(L_inv[0], p.Xg.transpose(1, 2, 0)).transpose(2, 0, 1)
    else:
        l_g = np.einsum("...ab,...b->...a", L_inv, p.Xg)
    schur = p.gg - np.einsum("...a,...a->...", l_g, l_g)
    u = p.gy - np.einsum("...a,...a->...", l_g, l_y)
    rss0 = p.yy - np.einsum("...a,...a->...", l_y, l_y)
    with np.errstate(invalid="ignore"):
        schur = np.where(schur > 0, schur, np.nan)
    return _Pivots(L, L_inv, l_y, l_g, schur, u, rss0)


def _profile(
    p: _Parts,
    n: int,
    restricted: bool,
    dp: _Parts | None = None,
    piv: _Pivots | None = None,
) -> _Profile:
    r"""ℓ(t) up to a constant (and ℓ'(t) when ``dp`` holds the derivatives), batched.

    From the pivots (:class:`_Pivots`): :math:`\hat\beta = u/S`,
    :math:`R = R_0 - u\hat\beta` and :math:`\log|A| = \log|A_0| + \log S`, accurate even
    when :math:`A` is ill-conditioned, as it is at large γ when a column of X lies in the
    kernel of K (the intercept with a centred kinship). The derivative follows from the
    envelope theorem: :math:`R' = r^\top (V^{-1})' r` with
    :math:`r = y - X\hat\beta_X - g\hat\beta` and
    :math:`(\log|A|)' = \operatorname{tr}(A^{-1}A')` by the blocks of :math:`A^{-1}`.
    ``piv``: the pivots of ``p`` when already known.
    """
    c = p.XX.shape[-1]
    piv = _pivots(p) if piv is None else piv
    schur = piv.schur
    dof = n - c - 1 if restricted else n
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = piv.u / schur
        rss = piv.rss0 - piv.u * beta
        value = -0.5 * dof * np.log(rss) - 0.5 * p.logdet
        if restricted:
            value = value - 0.5 * (piv.logdet_A0 + np.log(schur))
    slope = None
    if dp is not None:
        L_inv = piv.L_inv
        # A₀⁻¹⟨X, g⟩ and A₀⁻¹⟨X, y⟩; the residual's coefficients on X are -(β₀ - hβ̂).
        h = np.einsum("...ba,...b->...a", L_inv, piv.l_g)
        beta0 = np.einsum("...ba,...b->...a", L_inv, piv.l_y)
        a = h * beta[..., None] - beta0
        drss = (
            np.einsum("...a,...ab,...b->...", a, dp.XX, a)
            + 2.0 * np.einsum("...a,...a->...", a, dp.Xy)
            + dp.yy
            + beta**2 * dp.gg
            - 2.0 * beta * (np.einsum("...a,...a->...", a, dp.Xg) + dp.gy)
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = -0.5 * dof * drss / rss - 0.5 * dp.logdet
            if restricted:
                trace0 = np.einsum("...ia,...ab,...ib->...", L_inv, dp.XX, L_inv)
                extra = (
                    np.einsum("...a,...ab,...b->...", h, dp.XX, h)
                    - 2.0 * np.einsum("...a,...a->...", h, dp.Xg)
                    + dp.gg
                ) / schur
                slope = slope - 0.5 * (trace0 + extra)
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


def _weights(t: np.ndarray, lo: float, hi: float, order: int) -> list[np.ndarray]:
    r"""Rows (m, N) that evaluate an interpolant and its first ``order`` t-derivatives.

    The barycentric weights :math:`b(x)` at :math:`x = 2(t - lo)/(hi - lo) - 1` give the
    interpolant's value :math:`b^\top f`; :math:`(b^\top D)f` is its derivative, so each
    derivative is one small product with the differentiation matrix, for every quantity
    interpolated with the same weights.
    """
    x = np.clip(2.0 * (t - lo) / (hi - lo) - 1.0, -1.0, 1.0)
    diff = x[:, None] - _X[None, :]
    diff[diff == 0.0] = 1e-300  # a node itself: its weight dominates the sum
    ratio = _W[None, :] / diff
    rows = [ratio / ratio.sum(axis=1, keepdims=True)]
    D = _D * (2.0 / (hi - lo))
    for _ in range(order):  # einsum: a threaded BLAS call is slower at this size
        rows.append(np.einsum("mn,nk->mk", rows[-1], D))
    return rows


@dataclass(frozen=True)
class _Bracket:
    r"""The inner products at the Chebyshev points of [lo, hi].

    ``shared`` (N, F) the shared values; ``own`` (m, f, N) the variants' (variant- and
    field-major, so that one interpolation is one contiguous product per variant).
    """

    lo: float
    hi: float
    shared: np.ndarray
    own: np.ndarray

    def take(self, idx: np.ndarray) -> _Bracket:
        """The same bracket for the variants ``idx`` (ascending) only."""
        if idx.size == self.own.shape[0]:  # all of them: no copy
            return self
        return _Bracket(self.lo, self.hi, self.shared, self.own[idx])

    def at(self, t: np.ndarray, derivative: bool = True) -> tuple[_Parts, _Parts | None]:
        """Interpolated inner products (and their t-derivatives) at one t per variant."""
        rows = _weights(t, self.lo, self.hi, int(derivative))
        parts = [
            _Parts(np.einsum("mn,nf->mf", w, self.shared), np.einsum("mn,mfn->mf", w, self.own))
            for w in rows
        ]
        return parts[0], (parts[1] if derivative else None)


@dataclass(frozen=True)
class _Smooth:
    r"""The profile likelihood's ingredients at the Chebyshev points of [lo, hi].

    ``shared`` (9, N): :math:`R_0`, :math:`\log|V_\gamma|`, :math:`\log|A_0|`, each
    followed by its first two t-derivatives; ``own`` (6, m, N): each variant's :math:`S`
    and :math:`u` (:class:`_Pivots`), likewise; ``c`` the number of covariates. The
    derivatives at the points are those of the interpolants (the differentiation
    matrix), so one set of barycentric weights interpolates all fifteen. ℓ is a scalar
    function of the five, so its first two derivatives are cheap: the Newton search runs
    on this model and the exact inner products only polish its root.
    """

    lo: float
    hi: float
    shared: np.ndarray
    own: np.ndarray
    c: int

    @classmethod
    def build(cls, lo: float, hi: float, shared: np.ndarray, own: np.ndarray, c: int) -> _Smooth:
        """The model from values at the points: ``shared`` (3, N), ``own`` (2, m, N)."""
        D = _D * (2.0 / (hi - lo))
        DT = [D.T, (D @ D).T]

        def stack(values: np.ndarray) -> np.ndarray:  # (q, ..., N) -> (3q, ..., N)
            out = np.empty((3 * values.shape[0], *values.shape[1:]))
            for j, value in enumerate(values):
                out[3 * j] = value
                for order in (1, 2):  # einsum: a threaded BLAS call is slower at this size
                    np.einsum("...n,nk->...k", value, DT[order - 1], out=out[3 * j + order])
            return out

        return cls(lo, hi, stack(shared), stack(own), c)

    def take(self, idx: np.ndarray) -> _Smooth:
        """The same model for the variants ``idx`` (ascending) only."""
        if idx.size == self.own.shape[1]:  # all of them: no copy
            return self
        return _Smooth(self.lo, self.hi, self.shared, self.own[:, idx], self.c)

    def newton(self, t: np.ndarray, n: int, restricted: bool) -> tuple[np.ndarray, np.ndarray]:
        r"""ℓ'(t) and ℓ''(t) of the model, with :math:`R = R_0 - u^2/S`.

        .. math::

            \ell' = -\tfrac d2\,\frac{R'}{R} - \tfrac12(\log|V|)'
                - [\text{REML}]\,\tfrac12\Bigl((\log|A_0|)' + \frac{S'}{S}\Bigr),

        and :math:`\ell''` by differentiating once more (d the degrees of freedom).
        """
        (w,) = _weights(t, self.lo, self.hi, 0)
        R0, LV, LA = np.einsum("mn,fn->fm", w, self.shared).reshape(3, 3, -1)
        S, u = np.einsum("mn,fmn->fm", w, self.own).reshape(2, 3, -1)
        dof = n - self.c - 1 if restricted else n
        with np.errstate(invalid="ignore", divide="ignore"):
            g1, g2 = S[1] / S[0], S[2] / S[0]
            b = u[0] / S[0]
            R = R0[0] - u[0] * b
            R1 = R0[1] - 2.0 * b * u[1] + b * b * S[1]
            R2 = (
                R0[2]
                - 2.0 * (u[1] ** 2 + u[0] * u[2]) / S[0]
                + 4.0 * b * u[1] * g1
                + b * b * (S[2] - 2.0 * S[1] * g1)
            )
            q = R1 / R
            slope = -0.5 * dof * q - 0.5 * LV[1]
            curvature = -0.5 * dof * (R2 / R - q * q) - 0.5 * LV[2]
            if restricted:
                slope = slope - 0.5 * (LA[1] + g1)
                curvature = curvature - 0.5 * (LA[2] + g2 - g1 * g1)
        return slope, curvature


def _bracket(
    null: ExactNull, cand: Candidates, QG2: np.ndarray, lo: float, hi: float
) -> tuple[_Bracket, _Smooth]:
    """The exact inner products at the Chebyshev points of [lo, hi], and the smooth model."""
    values = _parts(null, cand, QG2, lo + 0.5 * (hi - lo) * (_X + 1.0))
    piv = _pivots(values)
    shared = np.stack([piv.rss0[0], values.logdet[0], piv.logdet_A0[0]])
    smooth = _Smooth.build(lo, hi, shared, np.stack([piv.schur, piv.u]), null.c)
    return _Bracket(lo, hi, values.shared[0], values.own.transpose(0, 2, 1)), smooth


def _subset(cand: Candidates, QG2: np.ndarray, idx: np.ndarray) -> tuple[Candidates, np.ndarray]:
    sub = Candidates(cand.QG[:, idx], cand.BG[:, idx], cand.GG[idx], cand.usable[idx])
    return sub, QG2[:, idx]


# -- the search ------------------------------------------------------------------------------
def _root(
    bracket: _Bracket,
    smooth: _Smooth,
    n: int,
    restricted: bool,
    t_best: np.ndarray,
    bounds: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Maximiser of ℓ on the bracket for each variant and whether it converged."""

    def slope(b: _Bracket, t: np.ndarray) -> np.ndarray:
        values, slopes = b.at(t)
        return _profile(values, n, restricted, slopes).slope

    # The model's slopes (exact at these points up to the interpolants' derivatives) only
    # choose the half-bracket: an optimum near t_best is found on either side.
    s_mid = smooth.newton(t_best, n, restricted)[0]
    up = s_mid > 0  # ℓ still rising at the best grid point: the optimum lies above it
    a = t_best.copy()
    b = np.where(up, bracket.hi, bracket.lo)
    fa, fb = s_mid, smooth.newton(b, n, restricted)[0]
    on_bound = ((t_best <= bounds[0]) & ~up) | ((t_best >= bounds[1]) & up) | (s_mid == 0)
    signed = (fa * fb < 0) & ~on_bound
    converged = on_bound.copy()
    t = t_best.copy()
    if not signed.any():
        return t, converged
    idx = np.flatnonzero(signed)
    a, b, fa, fb = a[idx], b[idx], fa[idx], fb[idx]
    sub = bracket.take(idx)
    x, done = _polish(sub, smooth.take(idx), n, restricted, a, b, slope)
    if not done.all():  # the model misled the polish: regula falsi on the exact slope
        rest = np.flatnonzero(~done)
        x[rest], done[rest] = _illinois(
            sub.take(rest), a[rest], b[rest], fa[rest], fb[rest], slope
        )
    t[idx] = x
    converged[idx] = done
    return t, converged


def _polish(
    bracket: _Bracket,
    smooth: _Smooth,
    n: int,
    restricted: bool,
    a: np.ndarray,
    b: np.ndarray,
    slope,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Newton on the smooth model, then Newton steps on the exact slope.

    ℓ' changes sign on [a, b]. Safeguarded Newton iterations (bisection whenever a step
    leaves the shrinking bracket or ℓ'' ≥ 0) find the model's root; then each exact step
    :math:`t \leftarrow t - \ell'(t)/\ell''_{\text{model}}(t)` uses the exact slope of the
    interpolated inner products. A variant is done when an exact step moves t by less
    than ``POLISH_TOL``: with the model's curvature accurate to a relative η, the error
    left is below η times that step.
    """
    lo, hi = np.minimum(a, b), np.maximum(a, b)  # ℓ' > 0 at lo and < 0 at hi
    x = a.copy()
    done = np.zeros(x.size, dtype=bool)
    curvature = np.full(x.size, np.nan)
    for _ in range(MAX_ITER):
        s, h = smooth.newton(x, n, restricted)
        lo = np.where(done | (s < 0), lo, x)
        hi = np.where(done | (s > 0), hi, x)
        step = -s / h
        inside = (h < 0) & (x + step >= lo) & (x + step <= hi)
        x_new = np.where(inside, x + step, 0.5 * (lo + hi))
        curvature = np.where(done, curvature, h)
        stop = (np.abs(x_new - x) < MODEL_TOL) | (s == 0) | (hi - lo < MODEL_TOL)
        x = np.where(done, x, x_new)
        done |= stop
        if done.all():
            break
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    done = np.zeros(x.size, dtype=bool)
    usable = curvature < 0
    for _ in range(POLISH_STEPS):
        todo = np.flatnonzero(~done & usable)
        if not todo.size:
            break
        step = -slope(bracket.take(todo), x[todo]) / curvature[todo]
        x[todo] = np.clip(x[todo] + step, lo[todo], hi[todo])
        done[todo] = np.abs(step) < POLISH_TOL
    return x, done


def _illinois(bracket: _Bracket, a, b, fa, fb, slope) -> tuple[np.ndarray, np.ndarray]:
    """Regula falsi with the retained end's slope halved when it stays (Illinois)."""
    done = np.zeros(a.size, dtype=bool)
    x = a.copy()
    for _ in range(MAX_ITER):
        x_new = np.where(done, x, b - fb * (b - a) / (fb - fa))
        fx = slope(bracket, x_new)
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
    return x, done


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
    n, m = null.n, cand.QG.shape[1]
    QG2 = np.square(cand.QG)
    npoints = max(3, int(np.ceil((bounds[1] - bounds[0]) / GRID_STEP)) + 1)
    t_grid = np.linspace(bounds[0], bounds[1], npoints)
    grid = _parts(null, cand, QG2, t_grid)
    piv = _pivots(grid)
    best = []
    for reml in restricted:
        values = _profile(grid, n, reml, piv=piv).value
        best.append(np.argmax(np.where(np.isfinite(values), values, -np.inf), axis=1))
    del grid, piv
    k = len(restricted)
    t = np.empty((k, m))
    converged = np.zeros((k, m), dtype=bool)
    prof = {name: np.empty((k, m)) for name in ("value", "beta", "schur", "rss")}
    last = t_grid.size - 1
    for b in np.unique(np.concatenate(best)):
        union = np.flatnonzero(np.any([choice == b for choice in best], axis=0))
        lo, hi = t_grid[max(b - 1, 0)], t_grid[min(b + 1, last)]
        if 2 * union.size >= m:  # cheaper to evaluate all than to copy the rotated columns
            bracket, smooth = _bracket(null, cand, QG2, lo, hi)
            bracket, smooth = bracket.take(union), smooth.take(union)
        else:
            bracket, smooth = _bracket(null, *_subset(cand, QG2, union), lo, hi)
        for j, reml in enumerate(restricted):
            mine = np.flatnonzero(best[j][union] == b)
            if mine.size:
                idx = union[mine]
                part = bracket.take(mine)
                t_b, ok = _root(
                    part, smooth.take(mine), n, reml, np.full(mine.size, t_grid[b]), bounds
                )
                t[j, idx], converged[j, idx] = t_b, ok
                # The statistics at the optimum, from the interpolants (exact to ~1e-13).
                final = _profile(part.at(t_b, derivative=False)[0], n, reml)
                for name in prof:
                    prof[name][j, idx] = getattr(final, name)
    return [
        _statistics(null, cand, t[j], converged[j], {key: v[j] for key, v in prof.items()}, reml)
        for j, reml in enumerate(restricted)
    ]


def _statistics(
    null: ExactNull,
    cand: Candidates,
    t: np.ndarray,
    converged: np.ndarray,
    prof: dict[str, np.ndarray],
    restricted: bool,
) -> ExactFit:
    n, c = null.n, null.c
    dof = n - c - 1 if restricted else n
    lml = prof["value"] - 0.5 * dof * (LOG2PI + 1.0 - np.log(dof))
    if restricted:
        lml = lml + 0.5 * _log_det_raw(null, cand)
    resid_var = prof["rss"] / dof  # on the scale of V_γ = γK + I = (1 + γ)V_δ
    beta = prof["beta"]
    se = np.sqrt(resid_var / prof["schur"])
    nan = np.where(cand.usable, 1.0, np.nan)
    return ExactFit(
        delta=expit(-t) * nan,
        lml=lml * nan,
        beta=beta * nan,
        se=se * nan,
        scale=resid_var * (1.0 + np.exp(t)) * nan,
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
