r"""limix's multi-trait linear mixed model, :class:`Kron2Sum`.

The numerical core is pure: :class:`KronData` holds the sufficient statistics of the data
(computed once, :math:`O(nk(p + c))`), and :func:`evaluate` returns the profiled
log-likelihood, :math:`\hat{\mathrm B}` and the matrix gradients over :math:`\mathrm C_0`,
:math:`\mathrm C_1` at a cost independent of :math:`n`.

Whitening (see :mod:`kinmix.cov._kron2sum`) turns :math:`\mathrm K` into :math:`p`
independent single-trait covariances :math:`\mathrm V_j = s_j\mathrm{GG}^\intercal +
\mathrm I`, :math:`\mathrm V_j^{-1} = \mathrm I - \mathrm U_x\mathrm{diag}(w_{\cdot j})
\mathrm U_x^\intercal`. With :math:`\tilde{\mathrm A} = \mathrm L_h\mathrm A`,
:math:`\tilde{\mathrm Y} = \mathrm Y\mathrm L_h^\intercal` and
:math:`\mathrm M = \mathrm A\otimes\mathrm X`,

.. math::

    \mathrm H = \mathrm M^\intercal\mathrm K^{-1}\mathrm M
      = \sum_j \tilde{\mathbf a}_j\tilde{\mathbf a}_j^\intercal\otimes
        \mathrm X^\intercal\mathrm V_j^{-1}\mathrm X, \qquad
    \mathbf b = \mathrm M^\intercal\mathrm K^{-1}\mathbf y
      = \sum_j \tilde{\mathbf a}_j\otimes\mathrm X^\intercal\mathrm V_j^{-1}\tilde{\mathbf y}_j,

    \log|\mathrm K| = \sum_{jk}\log(1 + s_jS_{x,k}) + n\log|\mathrm C_1|,

and every :math:`\mathbf u^\intercal\mathrm V_j^{-1}\mathbf v = \mathbf u^\intercal\mathbf v -
(\mathrm U_x^\intercal\mathbf u)^\intercal\mathrm{diag}(w_{\cdot j})(\mathrm U_x^\intercal
\mathbf v)` needs only rotated data and raw cross-products.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from .._validate import as_matrix, check_full_column_rank
from ..constants import FREE_FORM_JITTER, LOG2PI
from ..cov import Kron2SumCov
from ..errors import ConvergenceWarning, FitError, InputError
from ..linalg import Whitening, whiten
from ..mean import KronMean
from ..params import LOWER_CHOLESKY, Parameter, maximize

if TYPE_CHECKING:
    from ._kron_scanner import KronFastScanner

log = logging.getLogger(__name__)

#: L-BFGS-B stopping rules of :meth:`Kron2Sum.fit`: evaluations cost nothing in n, so the
#: relative-reduction rule is tight and the projected-gradient rule ends most runs.
FACTR = 10.0
PGTOL = 1e-6


@dataclass(frozen=True)
class KronData:
    r"""Sufficient statistics of :math:`(\mathrm Y, \mathrm A, \mathrm X, \mathrm G)`.

    ``Yr`` :math:`= \mathrm U_x^\intercal\mathrm Y`, ``Xr`` :math:`= \mathrm U_x^\intercal
    \mathrm X`, ``YY``, ``XY``, ``XX`` the raw cross-products, ``Sx`` the squared
    singular values of :math:`\mathrm G`, ``n`` the number of samples.
    """

    A: np.ndarray
    Yr: np.ndarray
    Xr: np.ndarray
    YY: np.ndarray
    XY: np.ndarray
    XX: np.ndarray
    Sx: np.ndarray
    n: int

    @classmethod
    def of(cls, Y: np.ndarray, A: np.ndarray, X: np.ndarray, Ux: np.ndarray, Sx: np.ndarray):
        """Rotate and reduce the data once, :math:`O(nk(p + c) + n(p + c)^2)`."""
        return cls(
            A=A,
            Yr=Ux.T @ Y,
            Xr=Ux.T @ X,
            YY=Y.T @ Y,
            XY=X.T @ Y,
            XX=X.T @ X,
            Sx=Sx,
            n=Y.shape[0],
        )

    @property
    def ntraits(self) -> int:
        return int(self.YY.shape[0])

    @property
    def ncovariates(self) -> int:
        return int(self.XX.shape[0])


@dataclass(frozen=True)
class KronState:
    r"""Everything :func:`evaluate` derives at fixed :math:`(\mathrm C_0, \mathrm C_1)`.

    ``lml`` is the (restricted) log-likelihood with :math:`\mathrm B` at its GLS value
    ``B``; ``H`` is :math:`\mathrm M^\intercal\mathrm K^{-1}\mathrm M`, ``b`` is
    :math:`\mathrm M^\intercal\mathrm K^{-1}\mathbf y`, ``yKiy`` is
    :math:`\mathbf y^\intercal\mathrm K^{-1}\mathbf y`, ``logdetK`` is :math:`\log|\mathrm K|`;
    ``dC0``, ``dC1`` are the symmetric matrix gradients :math:`\Gamma_i` with
    :math:`d\,\mathrm{lml} = \mathrm{tr}(\Gamma_0 d\mathrm C_0) + \mathrm{tr}(\Gamma_1
    d\mathrm C_1)` (``None`` unless asked for).
    """

    lml: float
    B: np.ndarray
    H: np.ndarray
    b: np.ndarray
    yKiy: float
    logdetK: float
    whitening: Whitening
    dC0: np.ndarray | None
    dC1: np.ndarray | None


def _weights(data: KronData, Sh: np.ndarray) -> np.ndarray:
    r""":math:`1 - w_{kj} = 1/(1 + S_{x,k}s_j)`, a :math:`k\times p` matrix."""
    return 1.0 / (1.0 + np.outer(data.Sx, Sh))


def evaluate(
    data: KronData, C0: np.ndarray, C1: np.ndarray, *, restricted: bool, gradient: bool
) -> KronState:
    r"""Profiled (restricted) log-likelihood at :math:`(\mathrm C_0, \mathrm C_1)`.

    The ML and REML log-likelihoods are

    .. math::

        -2\ell = np\log 2\pi + \log|\mathrm K| + \mathbf r^\intercal\mathrm K^{-1}\mathbf r,
        \qquad
        -2\ell_R = (np - cq)\log 2\pi + \log|\mathrm K| + \log|\mathrm H|
                   - \log|\mathrm M^\intercal\mathrm M|
                   + \mathbf r^\intercal\mathrm K^{-1}\mathbf r,

    with :math:`\mathbf r = \mathbf y - \mathrm M\hat{\boldsymbol\beta}`. With
    :math:`\mathrm Z = \mathrm{unvec}(\mathrm K^{-1}\mathbf r)` the gradients are

    .. math::

        2\Gamma_0 = -\mathrm L_h^\intercal\mathrm{diag}(t^0)\mathrm L_h
            + \mathrm Z^\intercal\mathrm{GG}^\intercal\mathrm Z + [\text{REML}]\,
            \textstyle\sum_{bb'}(\mathrm H^{-1})_{bb'}\mathrm Z_b^\intercal\mathrm{GG}^\intercal
            \mathrm Z_{b'},

    and the same for :math:`\Gamma_1` with :math:`\mathrm I` for :math:`\mathrm{GG}^\intercal`,
    where :math:`\mathrm Z_b = \mathrm{unvec}(\mathrm K^{-1}\mathbf m_b)` for the columns
    :math:`\mathbf m_b` of :math:`\mathrm M`, and :math:`t^0_j`, :math:`t^1_j` are the
    traces of :math:`\mathrm V_j^{-1}\mathrm{GG}^\intercal` and :math:`\mathrm V_j^{-1}`.
    The cost is :math:`O(kp(p + qc)^2 + (qc)^3 + p^3)`, with no dependence on :math:`n`.
    """
    wh = whiten(C0, C1)
    Lh = wh.Lh
    At = Lh @ data.A
    q, c, p = At.shape[1], data.ncovariates, data.ntraits
    inv = _weights(data, wh.Sh)  # 1 - w
    w = 1.0 - inv
    Yr = data.Yr @ Lh.T
    XYt = data.XY @ Lh.T
    YYt = Lh @ data.YY @ Lh.T
    # per whitened trait j: X'V_j^{-1}X (p, c, c) and X'V_j^{-1} y_j (c, p)
    XVX = data.XX[None] - np.einsum("kj,ki,kl->jil", w, data.Xr, data.Xr)
    XVy = XYt - data.Xr.T @ (w * Yr)
    yKiy = float(np.trace(YYt) - np.sum(w * Yr**2))
    H = np.einsum("ja,jb,jil->aibl", At, At, XVX).reshape(q * c, q * c)
    b = np.einsum("ja,ij->ai", At, XVy).reshape(q * c)
    try:
        factor = cho_factor(H)
    except np.linalg.LinAlgError as exc:
        raise FitError(
            "MᵀK⁻¹M is singular: the trait design A or the covariates X are collinear."
        ) from exc
    beta = cho_solve(factor, b)
    rss = yKiy - float(beta @ b)
    logdetK = float(np.log1p(np.outer(data.Sx, wh.Sh)).sum() + data.n * wh.logdet_C1)
    npts = data.n * p
    if restricted:
        logdetH = 2.0 * float(np.log(np.diag(factor[0])).sum())
        logdetMM = c * _logdet(data.A.T @ data.A) + q * _logdet(data.XX)
        lml = -0.5 * ((npts - q * c) * LOG2PI + logdetK + logdetH - logdetMM + rss)
    else:
        lml = -0.5 * (npts * LOG2PI + logdetK + rss)
    B = beta.reshape(q, c).T
    dC0 = dC1 = None
    if gradient:
        dC0, dC1 = _matrix_gradients(data, wh, At, B, Yr, XYt, YYt, inv, factor, restricted)
    return KronState(lml, B, H, b, yKiy, logdetK, wh, dC0, dC1)


def _logdet(matrix: np.ndarray) -> float:
    sign, value = np.linalg.slogdet(matrix)
    return float(value) if sign > 0 else -np.inf


def _matrix_gradients(data, wh, At, B, Yr, XYt, YYt, inv, factor, restricted):
    """Γ₀ and Γ₁ of :func:`evaluate` (symmetric p×p)."""
    Lh, Sx = wh.Lh, data.Sx
    fitted = B @ At.T  # c×p: whitened mean is X·fitted
    rho = Yr - data.Xr @ fitted  # Ux'R̃
    RR = YYt - XYt.T @ fitted - fitted.T @ XYt + fitted.T @ data.XX @ fitted
    w_rho = (1.0 - inv) * rho
    ZZ = RR - rho.T @ w_rho - w_rho.T @ rho + w_rho.T @ w_rho  # Z̃ᵀZ̃
    UZ = inv * rho  # Ux'Z̃
    t0 = Sx @ inv
    t1 = inv.sum(0) + (data.n - Sx.size)
    G0 = -np.diag(t0) + UZ.T @ (Sx[:, None] * UZ)
    G1 = -np.diag(t1) + ZZ
    if restricted:
        q, c = At.shape[1], data.ncovariates
        Hi = cho_solve(factor, np.eye(q * c))
        F = np.einsum("ja,ki->kjai", At, data.Xr).reshape(Sx.size, At.shape[0], q * c)
        Q = np.einsum("kjx,klx->kjl", F @ Hi, F)
        Hred = np.einsum("aibl,il->ab", Hi.reshape(q, c, q, c), data.XX)
        pair = np.einsum("kj,kl->kjl", inv, inv)
        G0 += np.einsum("k,kjl,kjl->jl", Sx, pair, Q)
        G1 += At @ Hred @ At.T - Q.sum(0) + np.einsum("kjl,kjl->jl", pair, Q)
    return 0.5 * Lh.T @ G0 @ Lh, 0.5 * Lh.T @ G1 @ Lh


def _single_threaded_blas():
    """Limit BLAS to one thread when threadpoolctl is installed: the fit works on p×p and
    k×p matrices, for which threads only add synchronisation (several-fold on a busy host)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@dataclass(frozen=True)
class StartResult:
    """One start of :meth:`Kron2Sum.fit`: its label, the lml reached and L-BFGS-B's verdict."""

    label: str
    lml: float
    converged: bool
    n_iterations: int
    message: str


@dataclass(frozen=True)
class Kron2SumFit:
    """Outcome of :meth:`Kron2Sum.fit`.

    Attributes
    ----------
    lml
        The best (restricted) log-likelihood found; the model is left there.
    best
        Label of the start that reached it.
    starts
        Every start tried, in order (the strategy is deterministic).
    gradient_norm
        Largest absolute gradient entry over the free coordinates at the optimum.
    converged
        Whether the best start met L-BFGS-B's tolerance.
    """

    lml: float
    best: str
    starts: tuple[StartResult, ...]
    gradient_norm: float
    converged: bool


class Kron2Sum:
    r"""Multi-trait linear mixed model fitted by (restricted) maximum likelihood.

    .. math::

        \mathrm{vec}(\mathrm Y) \sim N\bigl((\mathrm A\otimes\mathrm X)\mathrm{vec}(\mathrm B),\;
        \mathrm K = \mathrm C_0\otimes\mathrm{GG}^\intercal + \mathrm C_1\otimes\mathrm I\bigr)

    (Casale et al. 2015). :math:`\mathrm C_0` has rank at most ``rank``; :math:`\mathrm C_1`
    is positive definite; :math:`\mathrm B` is always at its GLS value given the
    covariances. With :math:`k = \mathrm{rank}(\mathrm G)`, one SVD of G and an
    :math:`O(nk(p + c))` reduction are done once; each likelihood and gradient evaluation
    then costs :math:`O(kp(p + qc)^2 + p^3 + (qc)^3)` (see :func:`evaluate`). Memory is
    :math:`O(n(p + c + k))`; no :math:`np\times np` matrix is formed except by
    :meth:`covariance`.

    Parameters
    ----------
    Y : array_like, shape (n, p)
        Traits (p ≥ 1 columns).
    A : array_like, shape (p, q)
        Trait design of the fixed effects (the identity for one effect per trait).
    X : array_like, shape (n, c)
        Covariates; full column rank.
    G : array_like, shape (n, m)
        Factor of the sample covariance :math:`\mathrm{GG}^\intercal` (standardised genotypes
        over :math:`\sqrt m`, or :math:`\mathrm Q_0\mathrm S_0^{1/2}` of a kinship).
    rank : int
        Largest rank of :math:`\mathrm C_0`, between 1 and p.
    restricted : bool
        Maximise the restricted (REML) likelihood.

    Notes
    -----
    Internally G is divided by :math:`g = \max|G_{ij}|` (as limix does) and
    :math:`\mathrm C_0` is reported back on the user's scale, :math:`\mathrm C_0/g^2`.
    The starting point is limix's (every factor entry 1), so :meth:`lml` before
    :meth:`fit` matches limix's.
    """

    def __init__(
        self, Y: Any, A: Any, X: Any, G: Any, rank: int = 1, restricted: bool = False
    ) -> None:
        Y = as_matrix(Y, "Y")
        n, p = Y.shape
        A = as_matrix(A, "A")
        if A.shape[0] != p:
            raise InputError(f"A must have one row per trait ({p}); got shape {A.shape}.")
        X = as_matrix(X, "X", nrows=n)
        G = as_matrix(G, "G", nrows=n)
        check_full_column_rank(X, "X")
        check_full_column_rank(A, "A")
        if n * p <= X.shape[1] * A.shape[1]:
            raise InputError(
                f"Y has n·p = {n * p} values but B has c·q = {X.shape[1] * A.shape[1]} "
                "entries: more observations than fixed effects are needed."
            )
        self._scale_G = float(np.max(np.abs(G)))
        if self._scale_G == 0:
            raise InputError("G is zero: it must have at least one non-zero entry.")
        self._Y = Y
        self._cov = Kron2SumCov(G / self._scale_G, p, rank)
        self._mean = KronMean(A, X)
        svd = self._cov.svd
        self._data = KronData.of(Y, A, X, svd.Ux, svd.Sx)
        self._restricted = bool(restricted)
        self._cached: tuple[tuple[bytes, ...], KronState] | None = None

    # -- shapes and data -----------------------------------------------------------------
    @property
    def nsamples(self) -> int:
        """Number of samples, n."""
        return int(self._Y.shape[0])

    @property
    def ntraits(self) -> int:
        """Number of traits, p."""
        return int(self._Y.shape[1])

    @property
    def ncovariates(self) -> int:
        """Number of covariates, c."""
        return int(self._mean.X.shape[1])

    @property
    def A(self) -> np.ndarray:
        r"""Trait design :math:`\mathrm A`."""
        return self._mean.A

    @property
    def X(self) -> np.ndarray:
        r"""Covariates :math:`\mathrm X`."""
        return self._mean.X

    @property
    def M(self) -> np.ndarray:
        r""":math:`\mathrm M = \mathrm A\otimes\mathrm X` (dense, :math:`np\times cq`)."""
        return self._mean.AX

    # -- parameters ----------------------------------------------------------------------
    def parameters(self) -> dict[str, Parameter]:
        """Free parameters ``"C0.Lu"`` and ``"C1.Lu"`` (factors of the covariances)."""
        return self._cov.parameters()

    @property
    def C0(self) -> np.ndarray:
        r""":math:`\mathrm C_0` on the user's scale of G."""
        return self._cov.C0.value() / self._scale_G**2

    @property
    def C1(self) -> np.ndarray:
        r""":math:`\mathrm C_1`."""
        return self._cov.C1.value()

    def _state(self, gradient: bool = False) -> KronState:
        key = tuple(p.free.tobytes() for p in self.parameters().values())
        if self._cached is not None and self._cached[0] == key:
            if not gradient or self._cached[1].dC0 is not None:
                return self._cached[1]
        state = evaluate(
            self._data,
            self._cov.C0.value(),
            self._cov.C1.value(),
            restricted=self._restricted,
            gradient=gradient,
        )
        self._cached = (key, state)
        self._mean.B = state.B
        return state

    @property
    def B(self) -> np.ndarray:
        r"""GLS effect sizes :math:`\hat{\mathrm B}` (:math:`c\times q`) at the current
        covariances."""
        return self._state().B

    @property
    def beta(self) -> np.ndarray:
        r""":math:`\mathrm{vec}(\hat{\mathrm B})`."""
        return self.B.reshape(-1, order="F")

    @property
    def beta_covariance(self) -> np.ndarray:
        r""":math:`(\mathrm M^\intercal\mathrm K^{-1}\mathrm M)^{-1}`."""
        return np.linalg.inv(self._state().H)

    def mean(self) -> np.ndarray:
        r""":math:`(\mathrm A\otimes\mathrm X)\mathrm{vec}(\hat{\mathrm B})`."""
        self._state()
        return self._mean.value()

    def covariance(self) -> np.ndarray:
        r"""Dense :math:`\mathrm K` (:math:`np\times np`; small problems only)."""
        C0, C1 = self.C0, self.C1
        G = self._cov.G * self._scale_G
        return np.kron(C0, G @ G.T) + np.kron(C1, np.eye(self.nsamples))

    # -- likelihood ----------------------------------------------------------------------
    def lml(self) -> float:
        """Log of the (restricted) marginal likelihood, B profiled."""
        return self._state().lml

    def value(self) -> float:
        """Same as :meth:`lml` (the objective of :meth:`fit`)."""
        return self.lml()

    def gradient(self) -> dict[str, np.ndarray]:
        """Derivatives of :meth:`lml` over the free coordinates ``"C0.Lu"``, ``"C1.Lu"``."""
        state = self._state(gradient=True)
        params = self.parameters()
        L0 = self._cov.C0.L
        L1 = self._cov.C1.L
        return {
            "C0.Lu": (2.0 * state.dC0 @ L0).ravel(),
            "C1.Lu": LOWER_CHOLESKY.pullback(params["C1.Lu"].free, 2.0 * state.dC1 @ L1),
        }

    # -- fitting -------------------------------------------------------------------------
    def _starts(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        r"""Deterministic starting covariances (internal scale of G).

        1. ``"current"``: the parameters as they are (limix's start before any fit).
        2. ``"moments"``: regression of the rotated residual cross-products
           :math:`\rho_k\rho_k^\intercal` on :math:`(S_{x,k}, 1)`, the expected value
           being :math:`S_{x,k}\mathrm C_0 + \mathrm C_1` (Haseman–Elston style), each
           matrix projected on its admissible cone.
        3. ``"split h=..."``: the residual covariance :math:`\Sigma` of an ordinary
           least-squares fit shared as :math:`h\Sigma/\bar S_x` and :math:`(1-h)\Sigma` for
           h = 0.1, 0.5, 0.9.
        """
        data = self._data
        n, k = data.n, data.Sx.size
        XXi = np.linalg.inv(data.XX)
        B_ols = XXi @ data.XY  # c×p (per-trait OLS)
        RR = data.YY - data.XY.T @ B_ols
        Sigma = RR / max(n - data.ncovariates, 1)
        rho = data.Yr - data.Xr @ B_ols
        design = np.column_stack([data.Sx, np.ones(k)])
        cross = np.einsum("kj,kl->kjl", rho, rho).reshape(k, -1)
        if n > k:
            # the complement of G's column space sees C1 alone
            C1_mom = (RR - rho.T @ rho) / (n - k)
            C0_mom = (data.Sx @ (cross - C1_mom.ravel())).reshape(Sigma.shape) / (data.Sx**2).sum()
        else:
            coef = np.linalg.lstsq(design, cross, rcond=None)[0]
            C0_mom, C1_mom = (coef[i].reshape(Sigma.shape) for i in range(2))
        mean_sx = float(data.Sx.sum() / n)
        starts = [
            ("current", self._cov.C0.value(), self._cov.C1.value()),
            ("moments", C0_mom, C1_mom),
        ]
        starts += [(f"split h={h}", h * Sigma / mean_sx, (1 - h) * Sigma) for h in (0.1, 0.5, 0.9)]
        return starts

    def set_covariances(self, C0: Any, C1: Any) -> None:
        r"""Set :math:`\mathrm C_0` (on the user's scale of G) and :math:`\mathrm C_1`.

        :math:`\mathrm C_0` must be symmetric positive semi-definite of rank at most
        ``rank`` (its leading ``rank`` eigenpairs are kept); :math:`\mathrm C_1 -
        \epsilon\mathrm I` must be positive definite, :math:`\epsilon` being
        :class:`~kinmix.cov.FreeFormCov`'s diagonal offset.
        """
        p = self.ntraits
        C0 = as_matrix(C0, "C0")
        C1 = as_matrix(C1, "C1")
        if C0.shape != (p, p) or C1.shape != (p, p):
            raise InputError(f"C0 and C1 must be {p}×{p}; got {C0.shape} and {C1.shape}.")
        S0, U0 = np.linalg.eigh(0.5 * (C0 + C0.T) * self._scale_G**2)
        rank = self._cov.C0.L.shape[1]
        if S0[0] < -1e-10 * max(abs(S0[-1]), 1.0) or np.any(S0[: p - rank] > 1e-10 * S0[-1]):
            raise InputError(
                f"C0 must be positive semi-definite of rank at most {rank}; its eigenvalues "
                f"are {S0 / self._scale_G**2}."
            )
        try:
            L1 = np.linalg.cholesky(0.5 * (C1 + C1.T) - FREE_FORM_JITTER * np.eye(p))
        except np.linalg.LinAlgError as exc:
            raise InputError(f"C1 - {FREE_FORM_JITTER:.3g}·I must be positive definite.") from exc
        self._cov.C0.L = U0[:, p - rank :] * np.sqrt(np.clip(S0[p - rank :], 0.0, None))
        self._cov.C1.L = L1

    def _set_start(self, C0: np.ndarray, C1: np.ndarray) -> None:
        """Set the factors from (internal-scale) start covariances, with eigenvalue floors."""
        C0 = 0.5 * (C0 + C0.T)
        C1 = 0.5 * (C1 + C1.T)
        S0, U0 = np.linalg.eigh(C0)
        rank = self._cov.C0.L.shape[1]
        top = slice(S0.size - rank, S0.size)
        floor = 1e-4 * max(float(np.max(np.abs(S0))), float(np.max(np.diag(C1))), 1e-8)
        self._cov.C0.L = U0[:, top] * np.sqrt(np.clip(S0[top], floor, None))
        S1, U1 = np.linalg.eigh(C1)
        S1 = np.clip(S1, floor, None)
        self._cov.C1.L = np.linalg.cholesky((U1 * S1) @ U1.T)

    def fit(self, verbose: bool = False, *, max_iterations: int = 1000) -> Kron2SumFit:
        r"""Maximise the (restricted) likelihood over :math:`\mathrm C_0, \mathrm C_1`.

        Every start of :meth:`_starts` is run to convergence by L-BFGS-B on the factors
        (free coordinates ``C0.Lu``, ``C1.Lu``); the model is left at the best one. Each
        run costs a few hundred evaluations independent of n, so the restarts are cheap.
        A :class:`~kinmix.ConvergenceWarning` is issued, naming the reason, if the best
        run stopped before its tolerance with a gradient entry above ``1e-3``.

        Parameters
        ----------
        verbose
            Write L-BFGS-B's per-iteration progress to standard error.
        max_iterations
            Largest number of L-BFGS-B iterations per start.

        Returns
        -------
        Kron2SumFit
            The optimum, the winning start and every start's outcome.
        """
        with _single_threaded_blas():
            results, best = self._run_starts(verbose, max_iterations)
        params = self.parameters()
        for key, free in best[1].items():
            params[key].free = free
        winner = next(r for r in results if r.lml == best[0])
        gradient_norm = max(float(np.max(np.abs(g))) for g in self.gradient().values())
        if not winner.converged and gradient_norm > 1e-3:
            warnings.warn(
                f"Kron2Sum.fit: the best start ({winner.label}) stopped before convergence "
                f"({winner.message}); largest gradient entry {gradient_norm:.3g} at lml "
                f"{winner.lml:.10g}.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return Kron2SumFit(
            lml=best[0],
            best=winner.label,
            starts=tuple(results),
            gradient_norm=gradient_norm,
            converged=winner.converged,
        )

    def _run_starts(self, verbose: bool, max_iterations: int):
        """L-BFGS-B from every start; the outcomes and the best (lml, free coordinates)."""
        params = self.parameters()
        results: list[StartResult] = []
        best: tuple[float, dict[str, np.ndarray]] = (-np.inf, {})
        for label, C0, C1 in self._starts():
            self._set_start(C0, C1)
            outcome = maximize(
                lambda: (self._state(gradient=True).lml, self.gradient()),
                params,
                factr=FACTR,
                pgtol=PGTOL,
                max_iterations=max_iterations,
                verbose=verbose,
            )
            results.append(
                StartResult(
                    label, outcome.value, outcome.converged, outcome.n_iterations, outcome.message
                )
            )
            log.info("Kron2Sum start %s: lml %.10g (%s)", label, outcome.value, outcome.message)
            if outcome.value > best[0]:
                best = (outcome.value, {key: p.free for key, p in params.items()})
        return results, best

    def get_fast_scanner(self) -> KronFastScanner:
        """A :class:`~kinmix.lmm.KronFastScanner` at the current covariances (ML scan)."""
        from ._kron_scanner import KronFastScanner

        return KronFastScanner._from_model(
            self._Y, self.X, self._data, self._cov.C0.value(), self._cov.C1.value(), self._cov.svd
        )
