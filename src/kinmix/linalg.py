r"""Economic eigendecomposition of a kinship matrix and the rotated inner products.

The single-trait model of kinmix has covariance :math:`s((1-\delta)K + \delta I)`. With the
economic eigendecomposition :math:`K = Q_0 S_0 Q_0^\top` (:math:`Q_0` is :math:`n\times k`
with orthonormal columns, :math:`S_0 > 0`, :math:`k \le n`) and any diagonal
:math:`D_0` (:math:`k` entries) plus a scalar :math:`d_1` for the orthogonal complement,
the matrix :math:`V = Q_0 D_0 Q_0^\top + d_1 (I - Q_0 Q_0^\top)` satisfies

.. math::

    a^\top V^{-1} b = (Q_0^\top a)^\top D_0^{-1} (Q_0^\top b)
        + \frac{a^\top b - (Q_0^\top a)^\top (Q_0^\top b)}{d_1},

    \log|V| = \textstyle\sum \log D_0 + (n - k) \log d_1 .

Only :math:`Q_0^\top a`, :math:`Q_0^\top b` and the raw :math:`a^\top b` are needed, so the
complement :math:`Q_1` is never formed: a rank-:math:`k` kinship costs :math:`O(nk)`
memory. The seed's form ``((Q0, Q1), S0)`` is accepted and returned; kinmix itself never
reads ``Q1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy.linalg import issymmetric

from ._validate import as_matrix, as_scalar, as_vector
from .constants import SQRT_EPS
from .errors import InputError

QS = tuple[tuple[np.ndarray, "np.ndarray | None"], np.ndarray]

#: Default relative tolerance: eigenvalues at most ``rtol * max(S)`` count as zero.
DEFAULT_RTOL = SQRT_EPS


def _split_spectrum(S: np.ndarray, rtol: float, name: str) -> int:
    """Index of the first eigenvalue (ascending ``S``) above the zero threshold."""
    top = float(S[-1]) if S.size else 0.0
    if top <= 0.0:
        raise InputError(f"{name} has no positive eigenvalue: it cannot be a kinship matrix.")
    threshold = rtol * top
    if S[0] < -threshold:
        raise InputError(
            f"{name} is not positive semi-definite: its smallest eigenvalue is {S[0]:.6g}, "
            f"below -{threshold:.3g} (= -rtol * largest eigenvalue, rtol={rtol:g}). "
            "Check how the kinship was built, or project it onto the PSD cone."
        )
    return int(np.searchsorted(S, threshold, side="right"))


#: Largest admissible deviation of :math:`Q_0^\top Q_0` from the identity, probed on
#: random directions (rounding in a float64 eigendecomposition stays near 1e-13).
ORTHONORMALITY_ATOL = 1e-6


def leading_rank(S: np.ndarray, rtol: float) -> int:
    r"""How many leading eigenvalues a thin decomposition keeps: the one truncation rule.

    ``S`` holds the eigenvalues of :math:`GG^\top` (the squared singular values of
    :math:`G`) in descending order. The kept ones are :math:`S_i > \mathrm{rtol}\cdot S_1`;
    none is kept when :math:`S_1 \le 0` (a zero :math:`G`) or ``S`` is empty. Used by
    :func:`economic_qs_linear`, :meth:`EconomicSVD.of` and
    :meth:`kinmix.lmm.LinearMixedModel.from_random_effects` (with Hail's
    ``max_condition_number`` as ``rtol``).
    """
    if not S.size or S[0] <= 0:
        return 0
    return int(np.count_nonzero(S > rtol * S[0]))


def _check_orthonormal(Q0: np.ndarray, name: str) -> None:
    r"""Raise unless the columns of ``Q0`` are orthonormal, probed in :math:`O(nk)`.

    The column norms must be 1, and :math:`Q_0^\top Q_0 z = z` for two fixed random
    directions z — which fails for scaled, duplicated or otherwise dependent columns
    without forming the :math:`k\times k` Gram matrix.
    """
    k = Q0.shape[1]
    if k == 0:
        return
    norms = np.einsum("ij,ij->j", Q0, Q0)
    z = np.random.default_rng(0).normal(size=(k, 2))
    deviation = max(
        float(np.abs(norms - 1.0).max()),
        float(np.abs(Q0.T @ (Q0 @ z) - z).max() / np.abs(z).max()),
    )
    if deviation > ORTHONORMALITY_ATOL:
        raise InputError(
            f"{name} does not have orthonormal columns (Q0ᵀQ0 differs from the identity by "
            f"{deviation:.3g}): pass the eigenvectors returned by kinmix.economic_qs or "
            "kinmix.economic_qs_linear, not a scaled or edited copy."
        )


def _check_rtol(rtol: Any) -> float:
    return as_scalar(rtol, "rtol", lower=0.0, upper=1.0)


def economic_qs(K: Any, *, rtol: float = DEFAULT_RTOL) -> QS:
    r"""Economic eigendecomposition of a symmetric positive semi-definite matrix.

    Parameters
    ----------
    K : array_like, shape (n, n)
        Symmetric positive semi-definite matrix, for instance a kinship (GRM).
    rtol : float
        Eigenvalues :math:`\le` ``rtol * max(S)`` are treated as zero and dropped;
        eigenvalues below ``-rtol * max(S)`` mean ``K`` is not PSD and raise.

    Returns
    -------
    ((Q0, Q1), S0)
        ``Q0`` (n×k) spans the eigenvectors of the kept eigenvalues ``S0`` (ascending);
        ``Q1`` (n×(n−k)) spans the dropped ones (it comes for free from the full
        decomposition; kinmix never uses it).

    Notes
    -----
    Costs one dense symmetric eigendecomposition, :math:`O(n^3)`.
    """
    rtol = _check_rtol(rtol)
    K = as_matrix(K, "K")
    n = K.shape[0]
    if K.shape != (n, n):
        raise InputError(f"K must be square; got shape {K.shape}.")
    if not issymmetric(K):  # exact and cheap; the tolerant check only when it fails
        asymmetry = np.abs(K - K.T).max()
        if asymmetry > 1e-8 * max(np.abs(K).max(), 1e-300):
            raise InputError(
                f"K must be symmetric; max |K - K.T| is {asymmetry:.3g}, far from zero."
            )
    S, Q = np.linalg.eigh(K)
    first = _split_spectrum(S, rtol, "K")
    if first == 0:
        return (Q, Q[:, :0]), S
    # Contiguous copies: every later product with Q0 would otherwise copy it again.
    return (np.ascontiguousarray(Q[:, first:]), np.ascontiguousarray(Q[:, :first])), S[first:]


def economic_qs_linear(G: Any, *, rtol: float = DEFAULT_RTOL, return_q1: bool = False) -> QS:
    r"""Economic eigendecomposition of :math:`K = GG^\top` without forming :math:`K`.

    Parameters
    ----------
    G : array_like, shape (n, r)
        Factor of the kinship, for instance standardised genotypes divided by :math:`\sqrt r`.
    rtol : float
        Relative tolerance below which eigenvalues count as zero (see :func:`economic_qs`).
    return_q1 : bool
        Also build the orthogonal complement ``Q1`` (an :math:`O(n^2)` object). By default
        ``Q1`` is ``None``: kinmix never needs it.

    Returns
    -------
    ((Q0, Q1), S0)
        ``Q0`` (n×k) and ``S0`` (k, descending) with :math:`GG^\top = Q_0 S_0 Q_0^\top`.

    Notes
    -----
    When :math:`r < n` this is a thin SVD :math:`G = U\Sigma W^\top`, so
    :math:`Q_0 = U`, :math:`S_0 = \Sigma^2`, at cost :math:`O(nr^2)` time and :math:`O(nr)`
    memory. When :math:`r \ge n`, :math:`GG^\top` is formed and :func:`economic_qs` is used.
    """
    rtol = _check_rtol(rtol)
    G = as_matrix(G, "G")
    n, r = G.shape
    if r >= n:
        (Q0, Q1), S0 = economic_qs(G @ G.T, rtol=rtol)
        return (Q0, Q1 if return_q1 else None), S0
    U, sv, _ = np.linalg.svd(G, full_matrices=return_q1)
    S = sv**2
    k = leading_rank(S, rtol)
    if k == 0:
        raise InputError("G is zero: GGᵀ has no positive eigenvalue.")
    Q1 = U[:, k:] if return_q1 else None
    return (np.ascontiguousarray(U[:, :k]), Q1), S[:k]


def unpack_qs(QS: Any, n: int, *, rtol: float = DEFAULT_RTOL) -> tuple[np.ndarray, np.ndarray]:
    """Validate a ``((Q0, Q1), S0)`` tuple for ``n`` samples and return ``(Q0, S0)``.

    ``Q1`` may be ``None`` or an array; it is ignored. Eigenvalues in ``S0`` that are at
    most ``rtol * max(S0)`` are dropped, negative ones beyond that tolerance raise.
    """
    try:
        (Q0, _Q1), S0 = QS
    except (TypeError, ValueError) as exc:
        raise InputError("QS must be a tuple ((Q0, Q1), S0), as economic_qs returns.") from exc
    Q0 = as_matrix(Q0, "QS[0][0] (Q0)")
    S0 = as_vector(S0, "QS[1] (S0)")
    if Q0.shape[0] != n:
        raise InputError(f"QS[0][0] (Q0) has {Q0.shape[0]} rows but there are {n} samples.")
    if Q0.shape[1] != S0.shape[0]:
        raise InputError(
            f"QS[0][0] (Q0) has {Q0.shape[1]} columns but QS[1] (S0) has {S0.shape[0]} "
            "eigenvalues; they must agree."
        )
    _check_orthonormal(Q0, "QS[0][0] (Q0)")
    order = np.argsort(S0, kind="stable")
    first = _split_spectrum(S0[order], rtol, "QS[1] (S0)")
    if first:
        kept = np.sort(order[first:])
        Q0, S0 = Q0[:, kept], S0[kept]
    return Q0, S0


@dataclass(frozen=True)
class RotatedDesign:
    r"""Sufficient statistics of :math:`(y, X)` for every covariance :math:`V` above.

    ``Qy`` and ``QX`` are the projections :math:`Q_0^\top y`, :math:`Q_0^\top X`; ``yy``,
    ``Xy`` and ``XX`` the raw products :math:`y^\top y`, :math:`X^\top y`, :math:`X^\top X`.
    ``complement`` is False when :math:`k = n` (then the raw products are not needed).
    """

    n: int
    S: np.ndarray
    Qy: np.ndarray
    QX: np.ndarray
    yy: float
    Xy: np.ndarray
    XX: np.ndarray
    complement: bool

    @property
    def k(self) -> int:
        """Number of kept eigenvalues."""
        return int(self.S.shape[0])

    @property
    def c(self) -> int:
        """Number of covariates."""
        return int(self.QX.shape[1])

    @cached_property
    def QB(self) -> np.ndarray:
        """:math:`Q_0^\top [X, y]`, (k, c+1)."""
        return np.column_stack([self.QX, self.Qy])

    @cached_property
    def BB(self) -> np.ndarray:
        """:math:`[X, y]^\top [X, y]`, (c+1, c+1)."""
        top = np.column_stack([self.XX, self.Xy])
        return np.vstack([top, np.append(self.Xy, self.yy)])

    def weighted_gram(self, d0: np.ndarray, d1: float) -> np.ndarray:
        r""":math:`[X, y]^\top V^{-1}[X, y]`, (c+1, c+1), for the covariance of eigenvalues
        ``(d0, d1)``."""
        return inner(self.QB, self.QB, self.BB, d0, d1, self.complement)

    def derivative_forms(
        self, d0: np.ndarray, d1: float, beta: np.ndarray, restricted: bool
    ) -> tuple[float, np.ndarray | None]:
        r""":math:`r^\top V^{-1}V'V^{-1}r` (:math:`r = y - X\beta`, :math:`V' = I - K`, whose
        eigenvalues are :math:`1 - S_0` on :math:`Q_0` and 1 on the complement) and, when
        ``restricted``, :math:`X^\top V^{-1}V'V^{-1}X`."""
        comp = self.complement
        Qr = self.Qy - self.QX @ beta
        dd0 = 1.0 - self.S
        quad = float(np.sum(dd0 * (Qr / d0) ** 2))
        if comp:
            rr = self.yy - 2 * beta @ self.Xy + beta @ self.XX @ beta
            quad += (rr - Qr @ Qr) / d1**2
        if not restricted:
            return quad, None
        XVdVX = (self.QX.T * (dd0 / d0**2)) @ self.QX
        if comp:
            XVdVX += (self.XX - self.QX.T @ self.QX) / d1**2
        return quad, XVdVX


def rotate(Q0: np.ndarray, S0: np.ndarray, y: np.ndarray, X: np.ndarray) -> RotatedDesign:
    """Project ``y`` and ``X`` on ``Q0`` once; every later evaluation is :math:`O(kc^2)`."""
    n, k = Q0.shape
    return RotatedDesign(
        n=n,
        S=S0,
        Qy=Q0.T @ y,
        QX=Q0.T @ X,
        yy=float(y @ y),
        Xy=X.T @ y,
        XX=X.T @ X,
        complement=k < n,
    )


def inner(
    Qa: np.ndarray,
    Qb: np.ndarray,
    ab: np.ndarray | float,
    d0: np.ndarray,
    d1: float,
    complement: bool,
) -> np.ndarray:
    r"""The product :math:`a^\top V^{-1} b` from the rotated and raw products.

    Parameters
    ----------
    Qa, Qb : ndarray, shape (k,) or (k, p)
        :math:`Q_0^\top a` and :math:`Q_0^\top b`.
    ab : ndarray or float
        :math:`a^\top b` (ignored when ``complement`` is False).
    d0 : ndarray, shape (k,)
        Eigenvalues of :math:`V` on the span of :math:`Q_0`.
    d1 : float
        Eigenvalue of :math:`V` on the orthogonal complement.
    complement : bool
        Whether the complement is non-trivial (:math:`k < n`).
    """
    if not complement:
        return (Qa.T / d0) @ Qb
    weights = 1.0 / d0 - 1.0 / d1
    return (Qa.T * weights) @ Qb + np.asarray(ab) / d1


def logdet(d0: np.ndarray, d1: float, n: int) -> float:
    r""":math:`\log|V| = \sum \log D_0 + (n-k)\log d_1`."""
    k = d0.shape[0]
    value = float(np.sum(np.log(d0)))
    if n > k:
        value += (n - k) * float(np.log(d1))
    return value


#: Eigenvalues of GGᵀ at most this fraction of the largest are treated as zero.
SINGULAR_RTOL = SQRT_EPS


@dataclass(frozen=True)
class Whitening:
    r"""Joint diagonalisation of :math:`(\mathrm C_0, \mathrm C_1)`.

    Attributes
    ----------
    Lh
        :math:`\mathrm L_h` (:math:`p\times p`): :math:`\mathrm L_h\mathrm C_1\mathrm
        L_h^\intercal = \mathrm I`, :math:`\mathrm L_h\mathrm C_0\mathrm L_h^\intercal =
        \mathrm{diag}(S_h)`.
    Sh
        Eigenvalues :math:`S_h \ge 0` of the whitened :math:`\mathrm C_0` (ascending).
    logdet_C1
        :math:`\log|\mathrm C_1|`.
    """

    Lh: np.ndarray
    Sh: np.ndarray
    logdet_C1: float


def whiten(C0: np.ndarray, C1: np.ndarray) -> Whitening:
    r"""Jointly diagonalise :math:`\mathrm C_0` (PSD) and :math:`\mathrm C_1` (PD) in
    :math:`O(p^3)`."""
    S1, U1 = np.linalg.eigh(C1)
    U1S1 = U1 / np.sqrt(S1)
    Sh, Uh = np.linalg.eigh(U1S1.T @ C0 @ U1S1)
    return Whitening(
        Lh=(U1S1 @ Uh).T, Sh=np.clip(Sh, 0.0, None), logdet_C1=float(np.log(S1).sum())
    )


@dataclass(frozen=True)
class EconomicSVD:
    r"""Economic SVD of :math:`\mathrm G`: :math:`\mathrm{GG}^\intercal = \mathrm U_x
    \mathrm{diag}(S_x)\mathrm U_x^\intercal` with :math:`k` positive :math:`S_x` (descending)."""

    Ux: np.ndarray
    Sx: np.ndarray

    @classmethod
    def of(cls, G: np.ndarray) -> EconomicSVD:
        r"""Decompose ``G`` (:math:`n\times m`) through the eigendecomposition of the
        smaller Gram matrix, :math:`O(nm\min(n, m))`.

        For :math:`m < n`, :math:`\mathrm G^\intercal\mathrm G = \mathrm V\mathrm S_x
        \mathrm V^\intercal` and :math:`\mathrm U_x = \mathrm{GV}\mathrm S_x^{-1/2}`;
        otherwise :math:`\mathrm{GG}^\intercal` is decomposed directly. Eigenvalues at most
        :data:`SINGULAR_RTOL` times the largest are dropped (:func:`leading_rank`).
        """
        n, m = G.shape
        S, V = np.linalg.eigh(G.T @ G if m < n else G @ G.T)
        k = leading_rank(S[::-1], SINGULAR_RTOL)
        S, V = S[S.size - k :][::-1], V[:, S.size - k :][:, ::-1]
        Ux = (G @ V) / np.sqrt(S) if m < n else V
        return cls(Ux=np.ascontiguousarray(Ux), Sx=S)
