r"""The array-level CG scan behind ``kinmix.scan(..., method="cg")``: tested columns of G
against the whole-genome kinship of a :class:`~kinmix.matfree.operator.GenotypeGRM`.

The model and statistics are those of :func:`kinmix.scan` with one kinship K (no LOCO; the
LOCO scan of a genotype file is :func:`kinmix.matfree.matfree_scan`): δ by Monte-Carlo
REML on the whole genome (:mod:`kinmix.matfree.reml`) unless given, one batched solve of
:math:`V^{-1}[y, X, g_1, \dots, g_k]` for the null and ``calibration_variants`` random
tested variants, the calibrated denominator :math:`\kappa\,\tilde g^\top\tilde g\,
\|Py\|^2/y^\top Py` for every variant (:mod:`kinmix.matfree.association`), and exact
float64 solves for the variants with p below ``refine_pvalue`` or whose calibrated −log10 p
may be off by more than ``refine_error`` (the scatter bound of
:func:`~kinmix.matfree.association.calibrated_error`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ._arrays import backend
from .association import (
    COLLINEAR_RTOL,
    REASONS,
    calibrated_error,
    calibration_constant,
    calibration_scatter,
    refine_targets,
    statistics,
)
from .gls import Batch, project, solve_batch
from .operator import WHOLE_GENOME, GenotypeGRM
from .reml import mc_reml

#: Relative-residual tolerances of the CG stages (as :func:`kinmix.matfree.matfree_scan`).
TOLERANCES = {"reml": 1e-4, "loco": 1e-6, "refine": 1e-10}


def operator_scan(
    op: GenotypeGRM,
    G: Any,
    y: np.ndarray,
    X: np.ndarray,
    variants: Any,
    *,
    delta: float | None = None,
    mc_samples: int = 30,
    calibration_variants: int = 30,
    refine_pvalue: float = 1e-6,
    refine_error: float | None = 0.1,
    max_refine: int | None = 1000,
    maxiter: int = 500,
    block_size: int = 1024,
    seed: int = 0,
) -> pd.DataFrame:
    r"""Scan the columns of ``G`` (n×m dosages, NaN missing) with K applied through ``op``.

    Returns :func:`kinmix.scan`'s columns without ``lml`` (the log-determinant of V is not
    formed) and with ``denominator`` (``"calibrated"`` or ``"exact"``);
    ``attrs["matfree"]`` holds δ, the calibration constant and its jackknife SE and the CG
    iterations per stage. ``delta`` skips the REML stage.
    """
    if op.n != y.shape[0]:
        raise InputError(
            f"the GenotypeGRM K has {op.n} samples but y has {y.shape[0]}: build it from "
            "the genotypes of the same samples, in the same order."
        )
    rng = np.random.default_rng(seed)
    whole = np.array([WHOLE_GENOME])
    if delta is None:
        fit = mc_reml(op, y, X, whole, samples=mc_samples, rng=rng, tol=TOLERANCES["reml"],
                      maxiter=maxiter)
        delta, reml_iterations = float(fit.delta[0]), fit.iterations
    else:
        reml_iterations = []
    n, m = G.shape
    XtX_inv = np.linalg.inv(X.T @ X)
    gg, GtX = np.empty(m), np.empty((m, X.shape[1]))
    observed, mean, constant = np.empty(m), np.empty(m), np.empty(m, bool)
    for lo in range(0, m, block_size):
        D, obs, mu, const = _imputed(G[:, lo : lo + block_size])
        hi = lo + D.shape[1]
        gg[lo:hi], GtX[lo:hi] = np.einsum("nm,nm->m", D, D), D.T @ X
        observed[lo:hi], mean[lo:hi], constant[lo:hi] = obs, mu, const
    tt = gg - np.einsum("mc,cd,md->m", GtX, XtX_inv, GtX)
    reason = np.zeros(m, dtype=np.int8)
    reason[tt <= COLLINEAR_RTOL * np.maximum(gg, 1e-300)] = 3
    reason[constant] = 1
    reason[observed == 0] = 2
    testable = np.flatnonzero(reason == 0)
    chosen = np.sort(rng.choice(testable, size=min(calibration_variants, testable.size),
                                replace=False))
    proj, iterations = _solve(op, y, X, G, chosen, delta, "loco", TOLERANCES["loco"], maxiter,
                              op.precision)
    spread = float((proj.Py * proj.Py).sum() / proj.rss0[0])
    kappa, kappa_se = calibration_constant(proj.ePe, tt[chosen] * spread)
    ratios = proj.ePe / (tt[chosen] * spread)
    scatter = calibration_scatter(ratios, np.zeros(ratios.size, dtype=np.int64))
    numerator = np.empty(m)
    Py = np.asarray(proj.Py)
    for lo in range(0, m, block_size):
        D = _imputed(G[:, lo : lo + block_size])[0]
        numerator[lo : lo + D.shape[1]] = D.T @ Py[:, 0]
    stats = statistics(numerator, kappa * spread * tt, proj.rss0[0], n)
    out = {k: np.where(reason == 0, getattr(stats, k), np.nan)
           for k in ("beta", "se", "chi2", "pvalue", "scale")}
    denominator = np.where(reason == 0, "calibrated", None).astype(object)
    hits = refine_targets(out["pvalue"], calibrated_error(out["chi2"], n, scatter),
                          refine_pvalue=refine_pvalue, refine_error=refine_error,
                          max_refine=max_refine)
    refine_iterations = None
    if hits.size:
        exact, refine_iterations = _solve(op, y, X, G, hits, delta, "refine",
                                          TOLERANCES["refine"], maxiter, np.float64)
        refined = statistics(exact.ePy, exact.ePe, exact.rss0[0], n)
        for key in out:
            out[key][hits] = getattr(refined, key)
        denominator[hits] = "exact"
    words = np.array([None, *(REASONS[k] for k in sorted(REASONS))], dtype=object)
    table = pd.DataFrame({
        "variant": variants,
        "n": observed.astype(np.int64),
        "af": np.where(observed > 0, mean / 2, np.nan),
        **out,
        "reason": pd.Series(words[reason], dtype=object),
        "denominator": pd.Series(denominator, dtype=object),
    })
    table.attrs["matfree"] = {
        "delta": delta,
        "calibration": kappa,
        "calibration_se": kappa_se,
        "scatter": scatter,
        "iterations": {"reml": reml_iterations, "loco": iterations,
                       "refine": refine_iterations},
        "refined": int(hits.size),
    }
    return table


def _imputed(block: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean-imputed float64 dosages of a block; observed counts, means; constant columns."""
    D = np.array(block, dtype=np.float64)
    missing = np.isnan(D)
    observed = (~missing).sum(axis=0)
    mean = np.where(observed > 0, np.where(missing, 0.0, D).sum(axis=0) / np.maximum(observed, 1),
                    0.0)
    D[missing] = np.broadcast_to(mean, D.shape)[missing]
    constant = (observed > 0) & (D.max(axis=0) == D.min(axis=0))
    return D, observed, mean, constant


def _solve(op, y, X, G, columns, delta, stage, tol, maxiter, precision):
    """Projected null and the exact products of ``columns`` of G, and the CG iterations."""
    extra = _imputed(G[:, columns])[0]
    batch = Batch(np.array([WHOLE_GENOME]), X.shape[1], np.array([columns.size]))
    B, result = solve_batch(op, batch, batch.columns(y, X, [extra]), np.array([delta]),
                            stage=stage, tol=tol, maxiter=maxiter, precision=precision)
    return project(batch, B, result.solution, backend(op)), result.iterations
