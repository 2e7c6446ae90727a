r"""One block of variants: mean imputation, the kernel, and the per-variant outcomes.

Everything here is a pure function of the shared :class:`ScanState` and one in-memory
block of genotypes, so the same code runs in the in-memory loop and in each Dask task.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..lmm import _scan

#: Codes of :attr:`BlockResult.reason` and the words of the results table.
OK, CONSTANT, ALL_MISSING, COLLINEAR = 0, 1, 2, 3
REASONS = {
    CONSTANT: "constant",
    ALL_MISSING: "all missing",
    COLLINEAR: "collinear with covariates",
}


@dataclass(frozen=True)
class ScanState:
    r"""What every block needs: the null models of the P traits and the environments.

    ``null`` holds :math:`Q_0`, the covariates and, per trait, the null covariance
    :math:`(1-\delta_p)K + \delta_p I`; ``environments`` is the (n, q) matrix E of an
    interaction scan, or None.
    """

    null: _scan.ScanNull
    environments: np.ndarray | None


@dataclass(frozen=True)
class BlockResult:
    """Outcomes of the m variants of one block for the P traits.

    ``nobs``, ``af``, ``reason`` have shape (m,); ``beta``, ``se``, ``chi2``, ``pvalue``,
    ``lml`` and ``scale`` (P, m); ``beta_gxe`` and ``se_gxe`` (P, m, q) for interaction
    scans (None otherwise), where ``beta`` and ``se`` are those of the genotype's main
    effect in the model with the interactions.
    """

    nobs: np.ndarray
    af: np.ndarray
    reason: np.ndarray
    beta: np.ndarray
    se: np.ndarray
    chi2: np.ndarray
    pvalue: np.ndarray
    lml: np.ndarray
    scale: np.ndarray
    beta_gxe: np.ndarray | None = None
    se_gxe: np.ndarray | None = None


def empty_result(ntraits: int, nenvironments: int | None) -> BlockResult:
    """The outcome of a block of no variant (the kernel needs at least one column)."""
    per_trait = np.empty((ntraits, 0))
    per_set = None if nenvironments is None else np.empty((ntraits, 0, nenvironments))
    return BlockResult(
        nobs=np.empty(0, dtype=np.int64),
        af=np.empty(0),
        reason=np.empty(0, dtype=np.int8),
        beta=per_trait,
        se=per_trait,
        chi2=per_trait,
        pvalue=per_trait,
        lml=per_trait,
        scale=per_trait,
        beta_gxe=per_set,
        se_gxe=per_set,
    )


@dataclass(frozen=True)
class Dosages:
    r"""Imputed dosages of one block and their raw products.

    ``G`` (n, m) float64, constant and all-missing variants set to zero; ``nobs``, ``af``,
    ``reason`` (m,); ``GG`` (m,) :math:`g^\top g`; ``BG`` (c+P, m) :math:`[X, Y]^\top G`.
    """

    G: np.ndarray
    nobs: np.ndarray
    af: np.ndarray
    reason: np.ndarray
    GG: np.ndarray
    BG: np.ndarray


#: Variance, relative to the mean square, below which a variant is checked for constancy.
CONSTANT_RTOL = 1e-10


def dosages(null: _scan.ScanNull, block: np.ndarray) -> Dosages:
    r"""Mean-impute a block and reduce it in two passes over memory.

    One product :math:`[\mathbf 1, X, Y]^\top G` gives the column sums (a NaN sum flags
    the variants with missing dosages, imputed by the mean of their observed ones) and the
    raw products the kernel needs when :math:`k < n`; one more pass gives
    :math:`g^\top g`, hence the variance, which flags the candidates for an exact
    constancy check. Constant and all-missing variants are set to zero, which the kernel
    reports as degenerate.
    """
    G = np.asarray(block, dtype=np.float64)
    n, m = G.shape
    basis = np.column_stack([np.ones(n), null.X, null.Y])
    with np.errstate(invalid="ignore"):
        sums = basis.T @ G
    nobs = np.full(m, n)
    flagged = np.flatnonzero(~np.isfinite(sums[0]))
    if flagged.size:
        sub = G[:, flagged]
        if np.isinf(sub).any():
            raise InputError("G contains infinite values; genotypes must be finite or NaN.")
        missing = np.isnan(sub)
        nobs[flagged] = n - missing.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nansum(sub, axis=0) / nobs[flagged]
        G = G.copy() if np.may_share_memory(G, block) else G
        G[:, flagged] = np.where(missing, mean, sub)
        sums[:, flagged] = basis.T @ G[:, flagged]
    mean = sums[0] / n
    GG = np.einsum("nm,nm->m", G, G)
    reason = np.zeros(m, dtype=np.int8)
    suspects = np.flatnonzero(GG / n - mean**2 <= CONSTANT_RTOL * np.maximum(GG / n, 1e-300))
    reason[suspects[np.ptp(G[:, suspects], axis=0) == 0]] = CONSTANT
    reason[nobs == 0] = ALL_MISSING
    bad = reason > 0
    if bad.any():
        G = G.copy() if np.may_share_memory(G, block) else G
        G[:, bad] = 0.0
        sums[:, bad] = 0.0
        GG[bad] = 0.0
    return Dosages(G, nobs, mean / 2.0, reason, GG, sums[1:])


def _mark_collinear(reason: np.ndarray, degenerate: np.ndarray) -> np.ndarray:
    reason = reason.copy()
    reason[(reason == OK) & degenerate.any(axis=0)] = COLLINEAR
    return reason


def scan_genotypes(state: ScanState, block: np.ndarray) -> BlockResult:
    r"""Test each variant (column) of ``block`` (n, m) for the P traits of ``state``.

    Single-variant scans rotate the imputed dosages (the GEMM :math:`Q_0^\top G`) and
    pass them with their raw products to :func:`kinmix.lmm._scan.scan_rotated`.
    Interaction scans rotate :math:`[g, g\odot E_1, \dots, g\odot E_q]` once, then read
    the main-effect model from its first column and the full model from all of them.
    """
    null = state.null
    d = dosages(null, block)
    if state.environments is not None:
        return _interaction(state, d)
    QG = (null.Q0.T @ d.G)[:, :, None]
    if null.complement:
        out = _scan.scan_rotated(null, QG, d.GG[:, None, None], d.BG[:, :, None])
    else:
        out = _scan.scan_rotated(null, QG)
    return BlockResult(
        nobs=d.nobs,
        af=d.af,
        reason=_mark_collinear(d.reason, out.degenerate),
        beta=out.effsizes1[..., 0],
        se=out.effsizes1_se[..., 0],
        chi2=out.chi2,
        pvalue=out.pvalue,
        lml=out.lml,
        scale=out.scale,
    )


def _interaction(state: ScanState, d: Dosages) -> BlockResult:
    null, E, G = state.null, state.environments, d.G
    n, m = G.shape
    q = E.shape[1]
    M = np.empty((n, m, q + 1))
    M[:, :, 0] = G
    M[:, :, 1:] = G[:, :, None] * E[:, None, :]
    QM = (null.Q0.T @ M.reshape(n, m * (q + 1))).reshape(-1, m, q + 1)
    MM, BM = _scan.raw_products(null, M) if null.complement else (None, None)
    main = _scan.scan_rotated(
        null,
        np.ascontiguousarray(QM[:, :, :1]),
        None if MM is None else MM[:, :1, :1],
        None if BM is None else np.ascontiguousarray(BM[:, :, :1]),
    )
    full = _scan.scan_rotated(null, QM, MM, BM)
    # LRT of [X, g, g⊙E] against [X, g]: n log(R_main / R_full), χ² with q d.o.f.
    with np.errstate(invalid="ignore"):
        stat = null.n * np.log(main.scale / full.scale)
    pvalue = _scan.chi2_sf(np.maximum(stat, 0.0), q)
    degenerate = main.degenerate | full.degenerate
    return BlockResult(
        nobs=d.nobs,
        af=d.af,
        reason=_mark_collinear(d.reason, degenerate),
        beta=full.effsizes1[..., 0],
        se=full.effsizes1_se[..., 0],
        chi2=np.where(degenerate, np.nan, stat),
        pvalue=np.where(degenerate, np.nan, pvalue),
        lml=full.lml,
        scale=full.scale,
        beta_gxe=full.effsizes1[..., 1:],
        se_gxe=np.where(degenerate[..., None], np.nan, full.effsizes1_se[..., 1:]),
    )
