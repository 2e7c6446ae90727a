r"""One block of variants: mean imputation, the kernel, and the per-variant outcomes.

Everything here is a pure function of the shared :class:`ScanState` and one in-memory
block of genotypes, so the same code runs in the in-memory loop and in each Dask task.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..constants import CONSTANCY_RTOL
from ..impute import mean_impute
from ..kernel import association as _scan
from . import _tests

#: Codes of :attr:`BlockResult.reason` and the words of the results table.
OK, CONSTANT, ALL_MISSING, COLLINEAR, TOO_LARGE, DEGENERATE = 0, 1, 2, 3, 4, 5
REASONS = {
    CONSTANT: "constant",
    ALL_MISSING: "all missing",
    COLLINEAR: "collinear with covariates",
    TOO_LARGE: "dosage too large",
    DEGENERATE: "degenerate fit",
}


@dataclass(frozen=True)
class ScanState:
    r"""What every block needs: the null models of the P traits and the environments.

    ``null`` holds :math:`Q_0`, the covariates and, per trait, the null covariance
    :math:`(1-\delta_p)K + \delta_p I`; ``environments`` is the (n, q) matrix E of an
    interaction scan, or None; ``deltas`` (P,) the fitted :math:`\delta_p`.
    """

    null: _scan.ScanNull
    environments: np.ndarray | None
    plan: _tests.TestPlan | None = None
    deltas: np.ndarray | None = None


@dataclass(frozen=True)
class BlockResult:
    """Outcomes of the m variants of one block for the P traits.

    ``nobs``, ``af``, ``reason`` have shape (m,); ``beta``, ``se``, ``chi2``, ``pvalue``,
    ``lml`` and ``scale`` (P, m); ``beta_gxe`` and ``se_gxe`` (P, m, q) for interaction
    scans (None otherwise), where ``beta`` and ``se`` are those of the genotype's main
    effect in the model with the interactions. ``extra`` holds further per-trait (P, m)
    columns of the chosen test (:mod:`kinmix.scan._tests`), in table order; ``chi2`` and
    ``pvalue`` are None when ``extra`` names every test's statistic instead.
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
    extra: dict[str, np.ndarray] | None = None


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
    r"""Mean-imputed dosages of one block.

    ``G`` (n, m) float64; ``GG`` (m,) :math:`g^\top g`; ``nobs`` (m,) the number of
    observed dosages of each variant; ``too_large`` (m,) flags the variants whose
    :math:`g^\top g` overflows float64 (their column of ``G`` is zeroed, so the kernel
    never sees an infinity).
    """

    G: np.ndarray
    GG: np.ndarray
    nobs: np.ndarray
    too_large: np.ndarray


def dosages(block: np.ndarray, *, overwrite: bool = False) -> Dosages:
    r"""Mean-impute a block in one pass over memory.

    The pass computes :math:`g^\top g`, which the kernel needs; a NaN there flags the
    variants with missing dosages, which alone go through
    :func:`kinmix.impute.mean_impute` (mean of the observed dosages, 0 for a variant with
    none) before their :math:`g^\top g` is recomputed — the whole block at once, in place,
    when most variants miss a dosage. ``block`` is copied before it is changed unless
    ``overwrite`` (the caller's block is then imputed in place).
    """
    G = np.asarray(block, dtype=np.float64)
    n, m = G.shape
    owned = overwrite or not np.may_share_memory(G, block)
    with np.errstate(invalid="ignore", over="ignore"):
        GG = np.einsum("nm,nm->m", G, G)
    nobs = np.full(m, n)
    flagged = np.flatnonzero(~np.isfinite(GG))
    if flagged.size:
        G = G if owned else G.copy()
        owned = True
        with np.errstate(over="ignore"):
            if 2 * flagged.size >= m:
                nobs = mean_impute(G).nobs
                GG = np.einsum("nm,nm->m", G, G)
            else:
                sub = G[:, flagged]
                nobs[flagged] = mean_impute(sub).nobs
                G[:, flagged] = sub
                GG[flagged] = np.einsum("nm,nm->m", sub, sub)
    too_large = ~np.isfinite(GG)
    if too_large.any():
        G = G if owned else G.copy()
        G[:, too_large] = 0.0
        GG[too_large] = 0.0
    return Dosages(G, GG, nobs, too_large)


def _reasons(d: Dosages, sums: np.ndarray, degenerate: np.ndarray) -> np.ndarray:
    """Why a variant has no statistics: constant, all missing, collinear, or OK (0)."""
    n = d.G.shape[0]
    mean = sums / n
    reason = np.zeros(mean.shape[0], dtype=np.int8)
    square = d.GG / n
    suspects = np.flatnonzero(square - mean**2 <= CONSTANCY_RTOL * np.maximum(square, 1e-300))
    reason[suspects[np.ptp(d.G[:, suspects], axis=0) == 0]] = CONSTANT
    reason[d.nobs == 0] = ALL_MISSING
    reason[d.too_large] = TOO_LARGE
    reason[(reason == OK) & degenerate.any(axis=0)] = COLLINEAR
    return reason


def _outcome(d: Dosages, sums: np.ndarray, degenerate: np.ndarray, **stats) -> BlockResult:
    """The block's result, with NaN statistics wherever a variant cannot be tested."""
    reason = _reasons(d, sums, degenerate)
    # Whatever else leaves a statistic non-finite (an alternative that fits a trait
    # exactly, with no residual, in tiny samples) is named rather than left a silent NaN.
    for value in stats.values():
        if value is not None:
            other_axes = tuple(axis for axis in range(value.ndim) if axis != 1)
            broken = (~np.isfinite(value)).any(axis=other_axes)
            reason[(reason == OK) & broken] = DEGENERATE
    untested = reason != OK
    for name, value in stats.items():
        if value is not None:
            mask = untested[None, :, None] if value.ndim == 3 else untested[None, :]
            stats[name] = np.where(mask, np.nan, value)
    af = np.where((d.nobs == 0) | d.too_large, np.nan, sums / (2 * d.G.shape[0]))
    return BlockResult(nobs=d.nobs, af=af, reason=reason, **stats)


def scan_genotypes(
    state: ScanState, block: np.ndarray, *, overwrite: bool = False
) -> BlockResult:
    r"""Test each variant (column) of ``block`` (n, m) for the P traits of ``state``
    (``overwrite``: missing dosages may be imputed in ``block`` itself, see :func:`dosages`).

    Single-variant scans make one pass to impute (and get :math:`g^\top g`), then one
    product :math:`[Q_0, Q_0L, X, Y, \mathbf 1]^\top G` gives everything else the kernel
    needs (:func:`kinmix.kernel.association.rotate_block`). Interaction scans rotate
    :math:`[g, g\odot E_1, \dots, g\odot E_q]` once, then read the main-effect model from
    its first column and the full model from all of them.
    """
    null = state.null
    d = dosages(block, overwrite=overwrite)
    if state.environments is not None:
        return _interaction(state, d)
    rotated = _scan.rotate_block(null, d.G[:, :, None])
    out = _scan.reduce_block(null, rotated, d.GG[:, None, None])
    result = _outcome(
        d,
        rotated.sums[:, 0],
        out.degenerate,
        beta=out.effsizes1[..., 0],
        se=out.effsizes1_se[..., 0],
        chi2=out.chi2,
        pvalue=out.pvalue,
        lml=out.lml,
        scale=out.scale,
    )
    if state.plan is None:
        return result
    return _tests.apply(state.plan, result, rotated, d.GG)


def _interaction(state: ScanState, d: Dosages) -> BlockResult:
    null, E, G = state.null, state.environments, d.G
    n, m = G.shape
    q = E.shape[1]
    M = np.empty((n, m, q + 1))
    M[:, :, 0] = G
    M[:, :, 1:] = G[:, :, None] * E[:, None, :]
    rotated = _scan.rotate_block(null, M)
    MM = _scan.gram(M) if null.complement else None
    main = _scan.reduce_block(null, rotated.head(1), None if MM is None else MM[:, :1, :1])
    full = _scan.reduce_block(null, rotated, MM)
    # LRT of [X, g, g⊙E] against [X, g]: n log(R_main / R_full), χ² with q d.o.f.
    with np.errstate(invalid="ignore"):
        stat = null.n * np.log(main.scale / full.scale)
    degenerate = main.degenerate | full.degenerate
    return _outcome(
        d,
        rotated.sums[:, 0],
        degenerate,
        beta=full.effsizes1[..., 0],
        se=full.effsizes1_se[..., 0],
        chi2=np.where(degenerate, np.nan, stat),
        pvalue=np.where(degenerate, np.nan, _scan.chi2_sf(np.maximum(stat, 0.0), q)),
        lml=full.lml,
        scale=full.scale,
        beta_gxe=full.effsizes1[..., 1:],
        se_gxe=np.where(degenerate[..., None], np.nan, full.effsizes1_se[..., 1:]),
    )
