r"""The matrix-free LOCO scan: encode, REML δ, LOCO solves, calibrated scan, exact refine."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from .association import (
    REASONS,
    calibrate,
    calibrated_error,
    refine,
    refine_targets,
    scan_blocks,
)
from .operator import WHOLE_GENOME, GenotypeGRM, is_dask
from .reml import mc_reml

logger = logging.getLogger("kinmix.matfree")

#: Default relative-residual tolerances of the CG stages.
TOLERANCES = {"reml": 1e-4, "loco": 1e-6, "refine": 1e-10}


def matfree_scan(
    genotypes: Any,
    y: Any,
    X: Any | None = None,
    *,
    chromosomes: Sequence | None = None,
    variants: Sequence | None = None,
    model: Sequence[bool] | None = None,
    delta: float | Mapping | None = None,
    loco_delta: str = "chunk",
    mc_samples: int = 15,
    calibration_variants: int = 15,
    refine_pvalue: float = 1e-6,
    refine_error: float | None = 0.1,
    max_refine: int | None = 1000,
    tol: Mapping[str, float] | None = None,
    maxiter: int | Mapping[str, int] = 500,
    precision: str = "float32",
    block_size: int = 1024,
    seed: int = 0,
) -> pd.DataFrame:
    r"""Leave-one-chromosome-out LMM scan without forming or decomposing the kinship.

    The model is kinmix's: :math:`y \sim N(X\beta, s((1-\delta)K_{-c} + \delta I))` with
    :math:`K_{-c}` the standardised GRM (as :func:`kinmix.grm`) of the model variants off
    the tested variant's chromosome c. Every linear system is solved by batched conjugate
    gradients through :class:`~kinmix.matfree.operator.GenotypeGRM` (one pass over the
    int8 genotypes per iteration for all chromosomes and right-hand sides).

    Stages: (1) δ by Monte-Carlo REML (:mod:`kinmix.matfree.reml`), per chromosome left
    out (``loco_delta="chunk"``, matching the exact LOCO path) or once on the whole genome
    (``"global"``), unless ``delta`` is given; (2) LOCO solves for y, X and
    ``calibration_variants`` random variants per chromosome; (3) the calibrated statistic
    of every variant (:mod:`kinmix.matfree.association`); (4) the exact statistic (float64 solves)
    of the variants with p below ``refine_pvalue`` or whose calibrated −log10 p may be off
    by more than ``refine_error``, at most ``max_refine`` of them.

    Parameters
    ----------
    genotypes : array_like, Dask array or PlinkGenotypes, shape (n, m)
        Hard-call dosages 0/1/2 (NaN missing), samples in the order of ``y``.
    y : array_like, shape (n,)
        The trait (finite).
    X : array_like, shape (n, c), optional
        Covariates of full column rank (default: an intercept).
    chromosomes : sequence, length m
        Chromosome of each variant (taken from ``genotypes.variants["chrom"]`` if absent).
    variants : sequence, length m, optional
        Variant identifiers (default ``genotypes.variants["variant"]`` or 0…m−1).
    model : sequence of bool, optional
        Variants that build the kinship (default all); every variant is tested.
    delta : float or mapping, optional
        δ for every chromosome, or a mapping chromosome → δ; skips the REML stage.
    loco_delta : {"chunk", "global"}
    mc_samples : int
        Monte-Carlo draws per REML group (one group per chromosome). 15, BOLT-LMM's choice
        for its single group at n ≤ 16,000: the Monte-Carlo part of a group's δ then has
        an SD of about :math:`1/\sqrt{15}` = 0.26 of δ's REML standard error.
    calibration_variants : int
        Variants per chromosome whose exact denominator calibrates the chromosome's
        others (one constant per chromosome, see :mod:`kinmix.matfree.association`); 15
        per chromosome put the constant's jackknife SE near 0.2 % at n = 5,000.
    refine_pvalue : float
        Variants with a calibrated p-value below this are refined (1 refines all).
    refine_error : float or None
        Variants are also refined when their calibrated −log10 p could be off by more than
        this: the bound of :func:`~kinmix.matfree.association.calibrated_error` at
        ``SCATTER_SDS`` (4) SDs of the per-variant scatter measured on the calibration
        variants. The scatter is a property of the cohort (≈1.2 % at n = 2,000–3,000 with
        families), so at the default 0.1 variants from χ² ≈ 10–15 up are refined. None
        keeps the p-value rule alone.
    max_refine : int or None
        Cap on refined variants (the smallest p-values first); None for no cap.
    tol : mapping, optional
        Relative residual tolerance per CG stage; defaults :data:`TOLERANCES`.
    maxiter : int or mapping
        Iteration cap of every CG solve, or per stage (``{"refine": 1000}``, others 500);
        reaching it raises
        :class:`~kinmix.errors.CGConvergenceError` (a :class:`kinmix.FitError`).
    precision : {"float32", "float64"}
        GEMM precision of the REML and LOCO stages (refine is always float64).
    block_size : int
        Variants per genotype block.
    seed : int
        Seed of the Monte-Carlo draws and of the choice of calibration variants.

    Returns
    -------
    pandas.DataFrame
        One row per variant in input order: ``chrom, variant, n, af, beta, se, chi2,
        pvalue, scale, reason, denominator`` (``pos, a1, a2`` too for PLINK input).
        ``chi2`` is the LRT :math:`n\log(R_0/R_1)` of :func:`kinmix.scan`; ``denominator``
        is ``"calibrated"`` or ``"exact"``. ``attrs["matfree"]`` records δ, the calibration
        constant and its jackknife SE per chromosome, the calibration scatter, the largest
        error bound left on a calibrated −log10 p (``unrefined_error``; above
        ``refine_error`` only when ``max_refine`` cut the refine short), and CG iterations
        per stage.
    """
    stages = dict(TOLERANCES, **(tol or {}))
    unknown = set(stages) - set(TOLERANCES)
    if unknown:
        raise InputError(f"tol has unknown stage(s) {sorted(unknown)}; use {list(TOLERANCES)}.")
    caps = dict.fromkeys(TOLERANCES, 500)
    caps.update(maxiter if isinstance(maxiter, Mapping) else dict.fromkeys(TOLERANCES, maxiter))
    if set(caps) != set(TOLERANCES):
        raise InputError(f"maxiter has unknown stage(s); use {list(TOLERANCES)}.")
    if refine_error is not None and not refine_error > 0:
        raise InputError(f"refine_error must be positive or None; got {refine_error!r}.")
    if loco_delta not in ("chunk", "global"):
        raise InputError(f"loco_delta must be 'chunk' or 'global'; got {loco_delta!r}.")
    info = getattr(genotypes, "variants", None)
    if chromosomes is None:
        if info is None:
            raise InputError("chromosomes is required (one label per variant) for arrays.")
        chromosomes = info["chrom"].to_numpy()
    n, m = _shape(genotypes)
    yv = _vector(y, n)
    Xm = _covariates(X, n)
    if variants is None:
        variants = info["variant"].to_numpy() if info is not None else np.arange(m)
    variants = np.asarray(variants)
    if variants.shape != (m,):
        raise InputError(f"variants has {variants.size} entries but genotypes {m} variants.")
    op = GenotypeGRM.from_genotypes(
        genotypes, chromosomes, model=model, block_size=block_size, precision=precision
    )
    rng = np.random.default_rng(seed)
    groups = np.arange(len(op.groups))
    deltas, reml = _deltas(op, yv, Xm, groups, delta, loco_delta, mc_samples, rng, stages,
                           caps["reml"])
    calibration = _calibration_variants(op, calibration_variants, rng)
    proj, cal, loco, spread = calibrate(
        op, yv, Xm, groups, deltas, calibration, tol=stages["loco"], maxiter=caps["loco"]
    )
    logger.info("calibration constants %s (jackknife SE %s)", cal.constant, cal.standard_error)
    result = scan_blocks(
        op, Xm, {g: g for g in groups}, proj.Py, proj.rss0, spread, cal.constant
    )
    denominator = np.full(op.m, "calibrated", dtype=object)
    error = calibrated_error(result["chi2"], op.n, cal.scatter)
    targets = refine_targets(result["pvalue"], error, refine_pvalue=refine_pvalue,
                             refine_error=refine_error, max_refine=max_refine)
    refined = refine(
        op, yv, Xm, targets, dict(enumerate(deltas)), tol=stages["refine"],
        maxiter=caps["refine"],
    )
    iterations = {"reml": reml.iterations if reml else [], "loco": loco.iterations}
    if refined is not None:
        idx, stats, solution = refined
        for key in ("beta", "se", "chi2", "pvalue", "scale"):
            result[key][idx] = getattr(stats, key)
        denominator[idx] = "exact"
        iterations["refine"] = solution.iterations
    denominator[result["reason"] != 0] = None
    table = _table(op, variants, info, result, denominator)
    table.attrs["matfree"] = {
        "delta": {op.groups[g]: float(deltas[g]) for g in groups},
        "calibration": {op.groups[g]: float(cal.constant[g]) for g in groups},
        "calibration_se": {op.groups[g]: float(cal.standard_error[g]) for g in groups},
        "scatter": cal.scatter,
        "unrefined_error": _largest(error, denominator == "calibrated"),
        "iterations": iterations,
        "refined": 0 if refined is None else int(refined[0].size),
    }
    return table


def _largest(values: np.ndarray, keep: np.ndarray) -> float:
    """Largest finite value of ``values[keep]`` (0 when there is none)."""
    chosen = values[keep & np.isfinite(values)]
    return float(chosen.max()) if chosen.size else 0.0


def _calibration_variants(op: GenotypeGRM, per_group: int, rng) -> np.ndarray:
    """``per_group`` random non-constant variants of each chromosome (stored order)."""
    chosen = []
    for group in range(len(op.groups)):
        stored = np.concatenate(
            [np.arange(b.start, b.stop) for b in op.blocks if b.group == group]
        )
        testable = stored[op.inv_sd[stored] > 0]
        count = min(per_group, testable.size)
        chosen.append(rng.choice(testable, size=count, replace=False))
    return np.sort(np.concatenate(chosen))


def _deltas(op, y, X, groups, delta, loco_delta, samples, rng, stages, maxiter):
    if delta is not None:
        if isinstance(delta, Mapping):
            missing = [op.groups[g] for g in groups if op.groups[g] not in delta]
            if missing:
                raise InputError(f"delta has no value for chromosome(s) {missing}.")
            values = np.array([float(delta[op.groups[g]]) for g in groups])
        else:
            values = np.full(groups.size, float(delta))
        if not np.all((values > 0) & (values < 1)):
            raise InputError(f"delta must lie strictly between 0 and 1; got {values}.")
        return values, None
    which = groups if loco_delta == "chunk" else np.array([WHOLE_GENOME])
    fit = mc_reml(
        op, y, X, which, samples=samples, rng=rng, tol=stages["reml"], maxiter=maxiter
    )
    values = fit.delta if loco_delta == "chunk" else np.full(groups.size, fit.delta[0])
    return values, fit


def _table(op, variants, info, result, denominator) -> pd.DataFrame:
    inverse = np.empty(op.m, dtype=np.int64)
    inverse[op.order] = np.arange(op.m)
    chrom_of_stored = np.empty(op.m, dtype=object)
    for b in op.blocks:
        chrom_of_stored[b.start : b.stop] = op.groups[b.group]
    words = np.array([None, *(REASONS[k] for k in sorted(REASONS))], dtype=object)
    columns: dict[str, Any] = {"chrom": chrom_of_stored[inverse]}
    if info is not None and {"pos", "a1", "a2"} <= set(info.columns):
        columns["pos"] = info["pos"].to_numpy()
    columns["variant"] = variants
    if info is not None and {"pos", "a1", "a2"} <= set(info.columns):
        columns["a1"] = info["a1"].to_numpy()
        columns["a2"] = info["a2"].to_numpy()
    observed = op.observed[inverse]
    columns["n"] = observed
    columns["af"] = np.where(observed > 0, op.mean[inverse] / 2, np.nan)
    for key in ("beta", "se", "chi2", "pvalue", "scale"):
        columns[key] = result[key][inverse]
    columns["reason"] = pd.Series(words[result["reason"][inverse]], dtype=object)
    columns["denominator"] = pd.Series(denominator[inverse], dtype=object)
    return pd.DataFrame(columns)


def _shape(genotypes: Any) -> tuple[int, int]:
    shape = getattr(genotypes, "shape", None)
    if shape is None or len(shape) != 2:
        raise InputError("genotypes must be two-dimensional (samples × variants).")
    return int(shape[0]), int(shape[1])


def _vector(y: Any, n: int) -> np.ndarray:
    y = np.asarray(y.compute() if is_dask(y) else y, dtype=np.float64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (n,):
        raise InputError(f"y must have one value per sample ({n}); got shape {y.shape}.")
    if not np.isfinite(y).all():
        raise InputError("y has NaN or infinite values; drop those samples first.")
    return y


def _covariates(X: Any, n: int) -> np.ndarray:
    if X is None:
        return np.ones((n, 1))
    X = np.asarray(X, dtype=np.float64)
    X = X[:, None] if X.ndim == 1 else X
    if X.ndim != 2 or X.shape[0] != n:
        raise InputError(f"X must be (n, c) with n = {n} rows; got shape {X.shape}.")
    if not np.isfinite(X).all():
        raise InputError("X has NaN or infinite values.")
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise InputError("X is not of full column rank: drop redundant covariates.")
    return X
