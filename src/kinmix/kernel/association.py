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

All products with :math:`V^{-1}` come from the rotated candidates :math:`Q_0^\top M`,
the weighted cross-products :math:`(Q_0L)^\top M` (:math:`L` the rotated covariates and
traits times the weights) and, when :math:`k < n`, the raw products :math:`M^\top M`,
:math:`X^\top M`, :math:`Y^\top M`. One GEMM with the extended basis
:math:`[Q_0, Q_0L, X, Y, \mathbf 1]` (:math:`2n(k + P(c+2) + c + 1)mq` flops, shared by
every phenotype) yields all but :math:`M^\top M` in a single pass over :math:`M`; the
rest costs :math:`O(P(c+q)^2 km)` at most.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.special import chdtrc, erfc

from ..constants import COLLINEARITY_RTOL, LOG2PI
from ..linalg import RotatedDesign


@dataclass(frozen=True)
class ScanNull:
    r"""Everything the scan needs from the null models of P phenotypes.

    Attributes
    ----------
    n : number of samples; ``X`` (n, c) and ``Y`` (n, P) the raw covariates and traits.
    basis : (n, k + P(c+1) + c + P + 1) or None
        :math:`[Q_0,\ Q_0 L,\ X,\ Y,\ \mathbf 1]` with :math:`L` = ``left``: one product
        :math:`\text{basis}^\top M` rotates the candidates and gives, in the same pass over
        M, the weighted cross-products, the raw products and the column sums. None when
        the caller supplies rotated candidates itself (:func:`scan_rotated`).
    weights : (P, k) :math:`1/D_{0p} - 1/d_{1p}` (just :math:`1/D_{0p}` without complement).
    inv_d1 : (P,) :math:`1/d_{1p}` (zero without complement).
    left : (k, P, c+1) rotated ``[X, y_p]`` multiplied by ``weights[p]``.
    A_inv : (P, c, c); ``XVy`` (P, c); ``beta`` (P, c); ``rss`` (P,); ``logdet`` (P,).
    whitener : (n, n) or None
        Instead of eigenvectors, the upper Cholesky factor :math:`U` of one trait's
        :math:`V = U^\top U` (:func:`build_whitened_null`): candidates are then "rotated"
        by :math:`U^{-\top}` (k = n, unit weights, no complement).
    """

    n: int
    basis: np.ndarray | None
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
    whitener: np.ndarray | None = None

    @property
    def k(self) -> int:
        """Number of eigenvectors."""
        return int(self.weights.shape[1])

    @property
    def Q0(self) -> np.ndarray | None:
        """The eigenvectors (a view of the first k columns of ``basis``)."""
        return None if self.basis is None else self.basis[:, : self.k]

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
    by :func:`scan_block`, which rotates raw candidates itself (through ``basis``).
    """
    from .null_model import solve

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
    left = left.reshape(k, P * (c + 1))
    basis = None
    if Q0 is not None:
        basis = np.concatenate([Q0, Q0 @ left, X, Y, np.ones((n, 1))], axis=1)
    return ScanNull(
        n=n,
        basis=basis,
        X=X,
        Y=Y,
        complement=complement,
        weights=weights,
        inv_d1=inv_d1,
        left=left,
        A_inv=A_inv,
        XVy=XVy,
        beta=beta,
        rss=rss,
        logdet=logdet,
    )


def build_whitened_null(factor: np.ndarray, logdet: float, X: np.ndarray, y: np.ndarray
                        ) -> ScanNull:
    r""":class:`ScanNull` of one trait whose null covariance is :math:`V = U^\top U`.

    ``factor`` is :math:`U` (:func:`kinmix.tridiagonal.cholesky_whitener`) and ``logdet``
    :math:`\log|V|`. With :math:`\tilde M = U^{-\top}M`, every :math:`a^\top V^{-1}b` is
    the plain :math:`\tilde a^\top\tilde b`: the kernel's formulas with unit weights.
    """
    from ..tridiagonal import whiten

    n = X.shape[0]
    WB = whiten(factor, np.column_stack([X, y]))
    ones = np.ones(n)
    design = RotatedDesign(n, ones, WB[:, -1], WB[:, :-1], float(y @ y), X.T @ y, X.T @ X,
                           complement=False)
    null = build_null([design], [(ones, 1.0)], X, y[:, None])
    # solve() took log|V| from the unit weights; the whitened covariance's is log|UᵀU|.
    return dataclasses.replace(null, logdet=np.array([logdet]), whitener=factor)


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


@dataclass(frozen=True)
class RotatedBlock:
    r"""m candidate sets of size q after the one pass over them.

    ``QM`` (k, m, q) :math:`Q_0^\top M`; ``cross`` (P, c+1, m, q) the weighted part of
    :math:`\langle [X, y_p], M\rangle`; ``BM`` (c+P, m, q) the raw :math:`[X, Y]^\top M`
    (None when not needed); ``sums`` (m, q) the column sums (None when unknown).
    """

    QM: np.ndarray
    cross: np.ndarray
    BM: np.ndarray | None
    sums: np.ndarray | None

    def head(self, j: int) -> RotatedBlock:
        """The same sets cut to their first ``j`` columns."""
        return RotatedBlock(
            self.QM[:, :, :j],
            self.cross[..., :j],
            None if self.BM is None else self.BM[:, :, :j],
            None if self.sums is None else self.sums[:, :j],
        )


def rotate_block(null: ScanNull, M: np.ndarray) -> RotatedBlock:
    """Rotate candidates ``M`` (n, m, q) with the one product :math:`\text{basis}^\top M`
    (or whiten them, for a null with a ``whitener``)."""
    n, m, q = M.shape
    k, P, c = null.k, null.ntraits, null.ncovariates
    if null.whitener is not None:
        from ..tridiagonal import whiten

        flat = M.reshape(n, m * q)
        WM = whiten(null.whitener, flat)
        return RotatedBlock(
            QM=WM.reshape(n, m, q),
            cross=(null.left.T @ WM).reshape(P, c + 1, m, q),
            BM=None,
            sums=(np.ones(n) @ flat).reshape(m, q),
        )
    if null.basis is None:
        raise ValueError("this null model has no Q0: pass rotated candidates to scan_rotated")
    reduced = null.basis.T @ M.reshape(n, m * q)
    return RotatedBlock(
        QM=reduced[:k].reshape(k, m, q),
        cross=reduced[k : k + P * (c + 1)].reshape(P, c + 1, m, q),
        BM=reduced[k + P * (c + 1) : -1].reshape(c + P, m, q),
        sums=reduced[-1].reshape(m, q),
    )


def gram(M: np.ndarray) -> np.ndarray:
    """:math:`M_j^\top M_j` for each set j of ``M`` (n, m, q): shape (m, q, q)."""
    n, m, q = M.shape
    if q == 1:
        flat = M.reshape(n, m)
        return np.einsum("nm,nm->m", flat, flat).reshape(m, 1, 1)
    return np.einsum("nmq,nmr->mqr", M, M)


def raw_products(null: ScanNull, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``MᵀM`` per set (m, q, q) and ``[X, Y]ᵀM`` (c+P, m, q) for the complement terms."""
    n, m, q = M.shape
    basis = np.concatenate([null.X, null.Y], axis=1)
    return gram(M), (basis.T @ M.reshape(n, m * q)).reshape(basis.shape[1], m, q)


def scan_block(null: ScanNull, M: np.ndarray, MM: np.ndarray | None = None) -> ScanBlock:
    """Test m candidate sets: ``M`` is (n, m) for single columns or (n, m, q) for sets.

    One product with ``null.basis`` rotates them and gives the cross and raw products;
    one more pass gives :math:`M^\top M` (when :math:`k < n`) unless ``MM`` (m, q, q) is
    supplied.
    """
    if M.ndim == 2:
        M = M[:, :, None]
    if null.complement and MM is None:
        MM = gram(M)
    return reduce_block(null, rotate_block(null, M), MM)


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
    P, c = null.ntraits, null.ncovariates
    # The weighted part of ⟨[X, y_p], M⟩ for every phenotype: one (P(c+1) × k) @ (k × mq).
    cross = (null.left.T @ QM.reshape(k, m * q)).reshape(P, c + 1, m, q)
    return reduce_block(null, RotatedBlock(QM, cross, BM, None), MM)


def reduce_block(null: ScanNull, rotated: RotatedBlock, MM: np.ndarray | None) -> ScanBlock:
    """The statistics of the sets from their rotation and, when :math:`k < n`, ``MM``."""
    QM, BM = rotated.QM, rotated.BM
    k, m, q = QM.shape
    P, c, n = null.ntraits, null.ncovariates, null.n
    flat = QM.reshape(k, m * q)
    # ⟨M, M⟩: weighted Gram of the rotated columns of each set.
    if q == 1 and P == 1:  # one fused pass, no k×m temporary
        MVM = np.einsum("km,km,k->m", flat, flat, null.weights[0])[None, :, None, None]
    elif q == 1:  # one pass to square, then a (P × k) @ (k × m) product
        MVM = (null.weights @ np.square(flat))[:, :, None, None]
    else:
        MVM = np.einsum("pk,kmq,kmr->pmqr", null.weights, QM, QM)
    cross = rotated.cross
    if null.complement:
        if MM is None or BM is None:
            raise ValueError("raw products are required when k < n")
        raw = np.concatenate(
            [np.broadcast_to(BM[None, :c], (P, c, m, q)), BM[c:][:, None]], axis=1
        )
        cross = cross + null.inv_d1[:, None, None, None] * raw
        MVM = MVM + null.inv_d1[:, None, None, None] * MM[None]
    XVM, MVy = cross[:, :c], cross[:, c]  # (P, c, m, q), (P, m, q)

    AinvB = np.einsum("pcd,pdmq->pcmq", null.A_inv, XVM)
    schur = MVM - np.einsum("pcmq,pcmr->pmqr", XVM, AinvB)
    u = MVy - np.einsum("pcmq,pc->pmq", XVM, null.beta)

    # Symmetric eigendecomposition of the small Schur complements: robust to collinearity.
    # A 1×1 complement is its own eigenvalue, with eigenvector 1: the same numbers as
    # LAPACK's, without a batched eigh call per variant.
    ref = np.maximum(np.abs(np.diagonal(MVM, axis1=-2, axis2=-1)).max(axis=-1), 1e-300)
    if q == 1:
        evals = schur[..., 0]
        degenerate = evals[..., 0] <= COLLINEARITY_RTOL * ref
        S_inv = (1.0 / np.where(degenerate[..., None], 1.0, evals))[..., None]
    else:
        evals, evecs = np.linalg.eigh(schur)
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
