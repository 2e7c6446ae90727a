r"""The association-scan kernel: one pure function over a block of candidates.

With the null covariance fixed (per phenotype :math:`p`, the diagonal
:math:`(D_{0p}, d_{1p})`), adding a candidate set :math:`M` (:math:`n\times q`) to the
covariates changes the GLS solution through the Schur complement of
:math:`A_p = X^\top V_p^{-1}X`:

.. math::

    B = X^\top V^{-1} M,\quad S = M^\top V^{-1}M - B^\top A^{-1} B,\quad
    u = M^\top V^{-1} y - B^\top \hat\beta_0,

    \hat\alpha = S^{-1}u,\quad \hat\beta = \hat\beta_0 - A^{-1}B\hat\alpha,\quad
    R_1 = R_0 - \hat\alpha^\top u .

The scale is re-estimated by maximum likelihood (:math:`R_1/n`), the likelihood-ratio
statistic is :math:`n\log(R_0/R_1)` (:math:`\chi^2_q` under the null), and the
standard errors are the square roots of the diagonals of
:math:`\hat s\,[A^{-1} + A^{-1}BS^{-1}B^\top A^{-1}]` and :math:`\hat s\,S^{-1}`.

All products with :math:`V^{-1}` come from the rotated candidates :math:`Q_0^\top M`
(the one GEMM of :math:`2nkmq` flops, shared by every phenotype) and, when
:math:`k < n`, the raw products :math:`M^\top M`, :math:`X^\top M`, :math:`Y^\top M`;
everything else costs :math:`O(P(c+q)^2 k m)` at most.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import chdtrc, erfc

from ..linalg import RotatedDesign

LOG2PI = float(np.log(2 * np.pi))

#: A candidate whose Schur complement is below this fraction of its own V⁻¹-norm is taken
#: as collinear with the covariates (or constant) and gets NaN statistics.
COLLINEARITY_RTOL = 1e-10


@dataclass(frozen=True)
class ScanNull:
    r"""Everything the scan needs from the null models of P phenotypes.

    Attributes
    ----------
    n : number of samples; ``Q0`` (n, k) the eigenvectors, or None when the caller
        supplies rotated candidates itself; ``X`` (n, c) and ``Y`` (n, P) the raw
        covariates and traits (read only when ``complement``).
    weights : (P, k) :math:`1/D_{0p} - 1/d_{1p}` (just :math:`1/D_{0p}` without complement).
    inv_d1 : (P,) :math:`1/d_{1p}` (zero without complement).
    left : (k, P, c+1) rotated ``[X, y_p]`` multiplied by ``weights[p]``.
    A_inv : (P, c, c); ``XVy`` (P, c); ``beta`` (P, c); ``rss`` (P,); ``logdet`` (P,).
    """

    n: int
    Q0: np.ndarray | None
    X: np.ndarray
    Y: np.ndarray
    complement: bool
    weights: np.ndarray
    inv_d1: np.ndarray
    left: np.ndarray
    A_inv: np.ndarray
    XVy: np.ndarray
    beta: np.ndarray
    rss: np.ndarray
    logdet: np.ndarray

    @property
    def ntraits(self) -> int:
        """Number of phenotypes P."""
        return int(self.Y.shape[1])

    @property
    def ncovariates(self) -> int:
        """Number of covariates c."""
        return int(self.X.shape[1])

    def null_lml(self) -> np.ndarray:
        """Null log-likelihood of each phenotype with the scale at its ML optimum."""
        n = self.n
        return -0.5 * (n * (LOG2PI + 1.0) + n * np.log(self.rss / n) + self.logdet)


def build_null(
    designs: list[RotatedDesign],
    diagonals: list[tuple[np.ndarray, float]],
    X: np.ndarray,
    Y: np.ndarray,
    Q0: np.ndarray | None = None,
) -> ScanNull:
    """Assemble :class:`ScanNull` from one rotated design and diagonal per phenotype.

    ``X`` (n, c) and ``Y`` (n, P) are the raw covariates and traits; ``Q0`` is needed only
    by :func:`scan_block`, which rotates raw candidates itself.
    """
    from ._kernel import solve

    n, k, complement = designs[0].n, designs[0].k, designs[0].complement
    P = len(designs)
    c = X.shape[1]
    weights = np.empty((P, k))
    inv_d1 = np.zeros(P)
    left = np.empty((k, P, c + 1))
    A_inv = np.empty((P, c, c))
    XVy = np.empty((P, c))
    beta = np.empty((P, c))
    rss = np.empty(P)
    logdet = np.empty(P)
    for p, (design, (d0, d1)) in enumerate(zip(designs, diagonals, strict=True)):
        sol = solve(design, d0, d1)
        weights[p] = 1.0 / d0 - (1.0 / d1 if complement else 0.0)
        inv_d1[p] = 1.0 / d1 if complement else 0.0
        left[:, p, :c] = design.QX * weights[p][:, None]
        left[:, p, c] = design.Qy * weights[p]
        A_inv[p] = sol.beta_covariance(1.0)
        XVy[p], beta[p], rss[p], logdet[p] = sol.XVy, sol.beta, sol.rss, sol.logdet
    return ScanNull(
        n=n,
        Q0=None if Q0 is None else np.ascontiguousarray(Q0),
        X=X,
        Y=Y,
        complement=complement,
        weights=weights,
        inv_d1=inv_d1,
        left=left.reshape(k, P * (c + 1)),
        A_inv=A_inv,
        XVy=XVy,
        beta=beta,
        rss=rss,
        logdet=logdet,
    )


def chi2_sf(stat: np.ndarray, dof: int) -> np.ndarray:
    r"""Survival function of :math:`\chi^2_{dof}`: closed forms for 1 and 2 d.o.f.

    :math:`P(\chi^2_1 > x) = \operatorname{erfc}(\sqrt{x/2})` and
    :math:`P(\chi^2_2 > x) = e^{-x/2}` are exact and some 50× faster than the general
    incomplete gamma function, which serves larger ``dof``.
    """
    if dof == 1:
        return erfc(np.sqrt(0.5 * stat))
    if dof == 2:
        return np.exp(-0.5 * stat)
    return chdtrc(dof, stat)


@dataclass(frozen=True)
class ScanBlock:
    """Statistics of m candidate sets of size q for P phenotypes.

    Shapes: ``lml``, ``scale``, ``chi2``, ``pvalue`` (P, m); ``effsizes1`` and
    ``effsizes1_se`` (P, m, q); ``effsizes0`` and ``effsizes0_se`` (P, m, c). Candidates
    collinear with the covariates (constant ones included) have NaN statistics and
    ``degenerate`` True.
    """

    lml: np.ndarray
    scale: np.ndarray
    chi2: np.ndarray
    pvalue: np.ndarray
    effsizes0: np.ndarray
    effsizes0_se: np.ndarray
    effsizes1: np.ndarray
    effsizes1_se: np.ndarray
    degenerate: np.ndarray


def raw_products(null: ScanNull, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``MᵀM`` per set (m, q, q) and ``[X, Y]ᵀM`` (c+P, m, q) for the complement terms."""
    m, q = M.shape[1], M.shape[2]
    flat = M.reshape(M.shape[0], m * q)
    basis = np.concatenate([null.X, null.Y], axis=1)
    BM = (basis.T @ flat).reshape(basis.shape[1], m, q)
    MM = np.einsum("nmq,nmr->mqr", M, M) if q > 1 else np.einsum("nm,nm->m", flat, flat)
    return MM.reshape(m, q, q), BM


def scan_block(null: ScanNull, M: np.ndarray) -> ScanBlock:
    """Test m candidate sets: ``M`` is (n, m) for single columns or (n, m, q) for sets."""
    if null.Q0 is None:
        raise ValueError("this null model has no Q0: pass rotated candidates to scan_rotated")
    if M.ndim == 2:
        M = M[:, :, None]
    n, m, q = M.shape
    QM = (null.Q0.T @ M.reshape(n, m * q)).reshape(null.Q0.shape[1], m, q)
    if null.complement:
        MM, BM = raw_products(null, M)
    else:
        MM, BM = None, None
    return scan_rotated(null, QM, MM, BM)


def scan_rotated(
    null: ScanNull,
    QM: np.ndarray,
    MM: np.ndarray | None = None,
    BM: np.ndarray | None = None,
) -> ScanBlock:
    r"""Test m candidate sets from their rotations ``QM`` = :math:`Q_0^\top M` (k, m, q).

    ``MM`` (m, q, q) and ``BM`` (c+P, m, q) are the raw products of :func:`raw_products`,
    required when the kinship has a non-trivial complement (:math:`k < n`).
    """
    k, m, q = QM.shape
    P, c, n = null.ntraits, null.ncovariates, null.n
    flat = QM.reshape(k, m * q)
    # ⟨[X, y_p], M⟩ for every phenotype: one (P(c+1) × k) @ (k × mq) product.
    cross = (null.left.T @ flat).reshape(P, c + 1, m, q)
    # ⟨M, M⟩: weighted Gram of the rotated columns of each set.
    if q == 1 and P == 1:  # one fused pass, no k×m temporary
        MVM = np.einsum("km,km,k->m", flat, flat, null.weights[0])[None, :, None, None]
    elif q == 1:  # one pass to square, then a (P × k) @ (k × m) product
        MVM = (null.weights @ np.square(flat))[:, :, None, None]
    else:
        MVM = np.einsum("pk,kmq,kmr->pmqr", null.weights, QM, QM)
    if null.complement:
        if MM is None or BM is None:
            raise ValueError("raw products are required when k < n")
        cross[:, :c] += null.inv_d1[:, None, None, None] * BM[None, :c]
        cross[:, c] += null.inv_d1[:, None, None] * BM[c:]
        MVM += null.inv_d1[:, None, None, None] * MM[None]
    XVM, MVy = cross[:, :c], cross[:, c]  # (P, c, m, q), (P, m, q)

    AinvB = np.einsum("pcd,pdmq->pcmq", null.A_inv, XVM)
    schur = MVM - np.einsum("pcmq,pcmr->pmqr", XVM, AinvB)
    u = MVy - np.einsum("pcmq,pc->pmq", XVM, null.beta)

    # Symmetric eigendecomposition of the small Schur complements: robust to collinearity.
    evals, evecs = np.linalg.eigh(schur)
    ref = np.maximum(np.abs(np.diagonal(MVM, axis1=-2, axis2=-1)).max(axis=-1), 1e-300)
    degenerate = evals.min(axis=-1) <= COLLINEARITY_RTOL * ref
    safe = np.where(degenerate[..., None], 1.0, evals)
    S_inv = np.einsum("pmqa,pma,pmra->pmqr", evecs, 1.0 / safe, evecs)

    alpha = np.einsum("pmqr,pmr->pmq", S_inv, u)
    rss1 = null.rss[:, None] - np.einsum("pmq,pmq->pm", alpha, u)
    rss1 = np.where(degenerate | (rss1 <= 0), np.nan, rss1)
    scale = rss1 / n
    lml = -0.5 * (n * (LOG2PI + 1.0) + n * np.log(scale) + null.logdet[:, None])
    stat = n * np.log(null.rss[:, None] / rss1)
    pvalue = chi2_sf(np.maximum(stat, 0.0), q)

    beta = null.beta[:, :, None] - np.einsum("pcmq,pmq->pcm", AinvB, alpha)
    correction = np.einsum("pcmq,pmqr,pcmr->pcm", AinvB, S_inv, AinvB)
    var0 = np.diagonal(null.A_inv, axis1=1, axis2=2)[:, :, None] + correction
    se0 = np.sqrt(scale[:, None, :] * var0)
    se1 = np.sqrt(scale[:, :, None] * np.diagonal(S_inv, axis1=-2, axis2=-1))

    nan_where = degenerate[..., None]
    return ScanBlock(
        lml=lml,
        scale=scale,
        chi2=stat,
        pvalue=pvalue,
        effsizes0=np.where(nan_where, np.nan, beta.transpose(0, 2, 1)),
        effsizes0_se=se0.transpose(0, 2, 1),
        effsizes1=np.where(nan_where, np.nan, alpha),
        effsizes1_se=se1,
        degenerate=degenerate,
    )
