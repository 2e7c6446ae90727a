r"""LOCO association statistics: exact numerators, calibrated or exact denominators.

For a variant g on chromosome c (mean-imputed dosages) and the REML projection
:math:`P_c` of the LOCO null model (:mod:`kinmix.matfree.gls`), adding g to the
covariates at the null δ gives, with :math:`R_0 = y^\top P_c y`,

.. math::

    \hat\alpha = \frac{g^\top P_c y}{g^\top P_c g},\qquad
    R_1 = R_0 - \frac{(g^\top P_c y)^2}{g^\top P_c g},\qquad
    \chi^2 = n\log\frac{R_0}{R_1},\qquad
    \operatorname{se}(\hat\alpha) = \sqrt{\frac{R_1/n}{g^\top P_c g}},

the statistics of :func:`kinmix.scan` (LRT with the scale profiled, δ held at the null).
The numerator :math:`g^\top P_c y` costs one pass over the genotypes once :math:`P_cy` is
known. The denominator :math:`g^\top P_c g` needs a solve per variant; the *calibrated*
denominator replaces it by

.. math::

    g^\top P_c g \approx \kappa\, \tilde g^\top\tilde g\; \frac{\|P_c y\|^2}{y^\top P_c y},

with :math:`\tilde g` the residual of g on the covariates X by ordinary least squares and
:math:`\kappa_c` the ratio :math:`\sum_j g_j^\top P_c g_j / \sum_j(\text{proxy}_j)` over a
few random calibration variants *of chromosome c* whose :math:`g^\top P_c g` is solved
exactly (its jackknife standard error is reported). One constant per chromosome rather
than one for the genome: the factor :math:`\|P_cy\|^2/y^\top P_cy` is estimated from the
single vector y, so it errs by a different ~1 % on each chromosome, an error shared by
all of the chromosome's variants that a per-chromosome constant removes (measured on 2,000
people in 250 families × 800 variants: the per-chromosome means of exact/calibrated
denominators were 0.993 and 1.009 with one constant). The *exact* denominator (refine) solves
:math:`V_c^{-1}[y, X, g]` in float64 to a tight tolerance.

What the constant cannot remove is the per-variant scatter of the ratio
:math:`r = g^\top P_c g / (\tilde g^\top\tilde g\,\|P_cy\|^2/R_0)` about
:math:`\kappa_c`. A genotype vector of a cohort with relatives has covariance
:math:`\propto\Phi` (the pedigree relationship), so its quadratic forms fluctuate:
to first order the relative variance of r is

.. math::

    \frac{\operatorname{var} r}{(\operatorname{E} r)^2} \approx
    \frac{2\operatorname{tr}\{[(P_c - cI)\Phi]^2\}}{\operatorname{tr}(P_c\Phi)^2},
    \qquad c = \frac{\operatorname{tr}(P_c\Phi)}{\operatorname{tr}\Phi},

which shrinks like :math:`n^{-1/2}` and grows with the share of relatives and with h²
(measured and predicted 1.1–1.3 % at n = 2,000–3,000 with 40 % of people in families of
four). It is a property of the cohort, not of the estimate of κ: an error ε of the
denominator moves χ² by about :math:`\chi^2\varepsilon`, so −log10 p by about
:math:`0.22\,\chi^2\varepsilon`. :func:`calibration_scatter` estimates its SD from the
calibration variants and :func:`calibrated_error` turns it into a bound on the error of
each calibrated −log10 p, so that the variants for which that bound is too loose can be
refined.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import chdtrc

from ._arrays import backend, concat, fetch
from .gls import Batch, project, solve_batch
from .operator import GenotypeGRM

#: Codes of the ``reason`` column, as in :func:`kinmix.scan`.
REASONS = {1: "constant", 2: "all missing", 3: "collinear with covariates"}
#: Residual variance of g on X, relative to its mean square, below which g is collinear.
COLLINEAR_RTOL = 1e-10
#: Standard deviations of the calibration scatter that :func:`calibrated_error` covers.
SCATTER_SDS = 4.0


@dataclass(frozen=True)
class Calibration:
    r"""The calibration constants :math:`\kappa_c`, their jackknife SEs and the variants used.

    ``constant`` and ``standard_error`` have one entry per LOCO group (NaN for a group
    without calibration variants); ``variants`` are stored-order indices; ``ratios``
    exact / proxy denominators of each; ``scatter`` the relative SD of a variant's exact
    denominator about its calibrated one (:func:`calibration_scatter`).
    """

    constant: np.ndarray
    standard_error: np.ndarray
    variants: np.ndarray
    ratios: np.ndarray
    scatter: float


def calibration_constant(exact: np.ndarray, proxy: np.ndarray) -> tuple[float, float]:
    r"""Ratio of sums :math:`\kappa = \sum e_j / \sum p_j` and its delete-one jackknife SE."""
    k = exact.size
    kappa = float(exact.sum() / proxy.sum())
    if k < 2:
        return kappa, float("nan")
    loo = (exact.sum() - exact) / (proxy.sum() - proxy)
    se = float(np.sqrt((k - 1) / k * np.sum((loo - loo.mean()) ** 2)))
    return kappa, se


def calibration_scatter(ratios: np.ndarray, groups: np.ndarray) -> float:
    r"""Pooled relative SD of exact / calibrated denominators of the calibration variants.

    With :math:`\kappa_c` the mean ratio of group c (``groups`` labels each ratio),
    :math:`\hat\sigma^2 = \sum_j (r_j/\bar r_{c_j} - 1)^2 / (k - G)` over the k ratios of
    the G groups that have any; NaN when :math:`k \le G`. The group means here stand in
    for the ratio-of-sums constants, from which they differ by far less than σ.
    """
    labels, index = np.unique(groups, return_inverse=True)
    dof = ratios.size - labels.size
    if dof < 1:
        return float("nan")
    means = np.bincount(index, weights=ratios) / np.bincount(index)
    return float(np.sqrt(np.sum((ratios / means[index] - 1.0) ** 2) / dof))


def calibrated_error(chi2: np.ndarray, n: int, scatter: float,
                     sds: float = SCATTER_SDS) -> np.ndarray:
    r"""Largest change of −log10 p if a calibrated denominator is off by ``sds`` × ``scatter``.

    χ² = −n log(1 − e) with e ∝ 1/denominator, so an exact denominator
    :math:`D(1\pm s)^{-1}` with :math:`s = \text{sds}\cdot\text{scatter}` gives
    :math:`e' = e(1\pm s)`; the bound is the larger :math:`|\log_{10}p' - \log_{10}p|`
    of the two (infinite when e' reaches 1; NaN for a NaN χ² or scatter).
    """
    from scipy.stats import chi2 as chi2_distribution  # logsf: no underflow for strong hits

    chi2 = np.asarray(chi2, dtype=np.float64)
    explained = -np.expm1(-chi2 / n)
    logp = chi2_distribution.logsf(chi2, 1)
    worst = np.zeros_like(chi2)
    for sign in (-1.0, 1.0):
        moved = explained * (1.0 + sign * sds * scatter)
        with np.errstate(divide="ignore", invalid="ignore"):
            chi2_moved = np.where(moved < 1, -n * np.log1p(-np.minimum(moved, 1.0)), np.inf)
            change = np.abs(chi2_distribution.logsf(chi2_moved, 1) - logp) / np.log(10)
        worst = np.fmax(worst, change)
    return np.where(np.isnan(chi2) | np.isnan(scatter), np.nan, worst)


def refine_targets(pvalue: np.ndarray, error: np.ndarray, *, refine_pvalue: float,
                   refine_error: float | None, max_refine: int | None) -> np.ndarray:
    """Indices (ascending) to refine: p below ``refine_pvalue`` or predicted −log10 p error
    above ``refine_error``, the smallest p-values first up to ``max_refine``."""
    wanted = np.isfinite(pvalue) & (pvalue < refine_pvalue)
    if refine_error is not None:
        wanted |= np.isfinite(pvalue) & (np.nan_to_num(error, nan=0.0) > refine_error)
    targets = np.flatnonzero(wanted)
    targets = targets[np.argsort(pvalue[targets], kind="stable")]
    if max_refine is not None:
        targets = targets[:max_refine]
    return np.sort(targets)


@dataclass(frozen=True)
class Statistics:
    """Per-variant statistics (arrays of one length)."""

    beta: np.ndarray
    se: np.ndarray
    chi2: np.ndarray
    pvalue: np.ndarray
    scale: np.ndarray


def statistics(numerator, denominator, rss0, n) -> Statistics:
    r"""LRT statistics from :math:`g^\top Py`, :math:`g^\top Pg` and :math:`R_0` (see notes).

    A calibrated denominator can make :math:`(g^\top Py)^2/(g^\top Pg) \ge R_0`, which the
    exact one never does; χ² is then infinite (p = 0), and such variants are refined.
    """
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        explained = numerator**2 / (denominator * rss0)
        chi2 = np.where(explained < 1, -n * np.log1p(-np.minimum(explained, 1.0)), np.inf)
        rss1 = rss0 * np.maximum(1.0 - explained, 0.0)
        beta = numerator / denominator
        scale = rss1 / n
        se = np.sqrt(scale / denominator)
    return Statistics(beta, se, chi2, chdtrc(1, chi2), scale)


def _ols_residual_square(gg, GtX, XtX_inv) -> np.ndarray:
    return gg - np.einsum("mc,cd,md->m", GtX, XtX_inv, GtX)


def _block_reductions(codes, mean, vectors):
    """:math:`G_b^\\top` vectors and :math:`g^\\top g` of one block of codes."""
    from .operator import decode_dosages

    G = decode_dosages(np.asarray(codes), mean)
    return G.T @ np.asarray(vectors), np.einsum("nm,nm->m", G, G)


def calibrate(
    op: GenotypeGRM,
    y: np.ndarray,
    X: np.ndarray,
    groups: np.ndarray,
    deltas: np.ndarray,
    calibration: np.ndarray,
    *,
    tol: float,
    maxiter: int,
):
    r"""LOCO null solves for every group plus exact :math:`g^\top Pg` of calibration variants.

    Returns the :class:`~kinmix.matfree.gls.Projected` null of each group, the
    :class:`Calibration`, the CG solution (for its iteration count) and per-group
    :math:`\|P_cy\|^2/R_0`.
    """
    group_of_variant = _stored_groups(op)
    per_group = [calibration[group_of_variant[calibration] == g] for g in groups]
    extra = [_dosages(op, idx) for idx in per_group]
    batch = Batch(groups, X.shape[1], np.array([idx.size for idx in per_group]))
    B, result = solve_batch(
        op, batch, batch.columns(y, X, extra), deltas, stage="loco", tol=tol, maxiter=maxiter
    )
    proj = project(batch, B, result.solution, backend(op))
    norms = fetch(op, [(proj.Py * proj.Py).sum(axis=0)])[0]
    spread = norms / proj.rss0
    XtX_inv = np.linalg.inv(X.T @ X)
    kappa, se = np.full(groups.size, np.nan), np.full(groups.size, np.nan)
    proxies, start = [], 0
    for g, idx in enumerate(per_group):
        E = extra[g]
        tt = _ols_residual_square(np.einsum("nm,nm->m", E, E), E.T @ X, XtX_inv)
        proxies.append(tt * spread[g])
        exact = proj.ePe[start : start + idx.size]
        start += idx.size
        if idx.size:
            kappa[g], se[g] = calibration_constant(exact, proxies[-1])
    proxy = np.concatenate(proxies)
    labels = np.repeat(np.arange(groups.size), [idx.size for idx in per_group])
    ratios = proj.ePe / proxy
    cal = Calibration(kappa, se, np.concatenate(per_group), ratios,
                      calibration_scatter(ratios, labels))
    return proj, cal, result, spread


def scan_blocks(
    op: GenotypeGRM,
    X: np.ndarray,
    group_column: dict,
    Py: Any,
    rss0: np.ndarray,
    spread: np.ndarray,
    kappa: np.ndarray,
) -> dict[str, np.ndarray]:
    """Calibrated statistics of every stored variant, block by block (stored order).

    ``group_column`` maps an operator group index to its column in ``Py``/``rss0``,
    ``spread`` and ``kappa`` (the group's calibration constant).
    """
    n = op.n
    XtX_inv = np.linalg.inv(X.T @ X)
    tasks = []
    for b in op.blocks:
        k = group_column[b.group]
        vectors = Py[:, k : k + 1]
        vectors = concat(op, [vectors, X])
        codes = op.codes[:, b.start : b.stop]
        if op.distributed:
            import dask

            tasks.append(
                dask.delayed(_block_reductions, pure=True)(
                    codes, op.mean[b.start : b.stop], vectors
                )
            )
        else:
            tasks.append(_block_reductions(codes, op.mean[b.start : b.stop], vectors))
    if op.distributed:
        import dask

        tasks = dask.compute(*tasks)
    m = op.m
    out = {key: np.full(m, np.nan) for key in ("beta", "se", "chi2", "pvalue", "scale")}
    reason = np.zeros(m, dtype=np.int8)
    for b, (GtV, gg) in zip(op.blocks, tasks, strict=True):
        k = group_column[b.group]
        sl = slice(b.start, b.stop)
        tt = _ols_residual_square(gg, GtV[:, 1:], XtX_inv)
        code = np.zeros(b.stop - b.start, dtype=np.int8)
        code[tt <= COLLINEAR_RTOL * np.maximum(gg, 1e-300)] = 3
        code[op.inv_sd[sl] == 0] = 1
        code[op.observed[sl] == 0] = 2
        reason[sl] = code
        stats = statistics(GtV[:, 0], kappa[k] * spread[k] * tt, rss0[k], n)
        for key in out:
            out[key][sl] = np.where(code == 0, getattr(stats, key), np.nan)
    out["reason"] = reason
    return out


def refine(
    op: GenotypeGRM,
    y: np.ndarray,
    X: np.ndarray,
    targets: np.ndarray,
    deltas: dict,
    *,
    tol: float,
    maxiter: int,
):
    r"""Exact statistics of the stored variants ``targets``: float64 solves of
    :math:`V_c^{-1}[y, X, g]` to ``tol`` (stage ``"refine"``).

    ``deltas`` maps an operator group to its δ. Returns (stored indices, Statistics,
    CG solution), or None when there is nothing to refine.
    """
    if targets.size == 0:
        return None
    group_of_variant = _stored_groups(op)
    groups = np.array(sorted(set(group_of_variant[targets].tolist())))
    per_group = [targets[group_of_variant[targets] == g] for g in groups]
    batch = Batch(groups, X.shape[1], np.array([idx.size for idx in per_group]))
    extra = [_dosages(op, idx) for idx in per_group]
    B, result = solve_batch(
        op, batch, batch.columns(y, X, extra), np.array([deltas[g] for g in groups]),
        stage="refine", tol=tol, maxiter=maxiter, precision=np.float64,
    )
    proj = project(batch, B, result.solution, backend(op))
    rss0 = np.repeat(proj.rss0, [idx.size for idx in per_group])
    stats = statistics(proj.ePy, proj.ePe, rss0, op.n)
    return np.concatenate(per_group), stats, result


def _stored_groups(op: GenotypeGRM) -> np.ndarray:
    groups = np.empty(op.m, dtype=np.int64)
    for b in op.blocks:
        groups[b.start : b.stop] = b.group
    return groups


def _dosages(op: GenotypeGRM, stored: np.ndarray) -> np.ndarray:
    from .operator import decode_dosages

    codes = op.codes[:, stored] if stored.size else np.empty((op.n, 0), np.int8)
    if op.distributed and stored.size:
        codes = codes.compute()
    return decode_dosages(np.asarray(codes), op.mean[stored])
