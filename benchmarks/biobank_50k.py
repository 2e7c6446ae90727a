"""The matrix-free LOCO pipeline at biobank size against an exact low-rank LOCO reference.

The documented manual run of issue 14 (n = m = 50,000, kinship from 5,000 model variants)::

    python benchmarks/biobank_50k.py --samples 50000 --variants 50000 --model-variants 5000

and its rehearsal at n = m = 10,000 (a few minutes)::

    python benchmarks/biobank_50k.py --samples 10000 --variants 10000 --model-variants 5000

Steps, one after the other so that their memory never adds up:

1. **Cohort.** :func:`kinmix.simulate.simulate_families_to_plink` writes the biobank
   benchmark's design (``n // 8`` nuclear families of four, the rest unrelated, ``m``
   variants on 10 chromosomes, every variant causal with h² = 0.5, 0.5 % missing calls,
   seed 7) block by block as PLINK files: the n × m dosages are never held.
2. **CG pipeline** in a fresh (spawned) process that reads those files:
   :func:`kinmix.matfree.matfree_scan` in calibrated mode (Monte-Carlo REML δ per
   chromosome, LOCO solves, the calibrated statistic of every variant), then at that δ the
   pipeline's refine stage for the ``--refine`` variants of smallest p (see
   :func:`cg_pipeline`).
   Its peak resident memory is that process's own (``VmHWM``).
3. **Exact reference** in this process, at the same δ per chromosome: with
   :math:`W_c` the n × k_c standardised model variants off chromosome c and
   :math:`a = (1-\\delta)/(\\delta k_c)`, the LOCO covariance
   :math:`V_c = (1-\\delta)W_cW_c^\\top/k_c + \\delta I` has the exact inverse
   (Woodbury; the Gram-matrix form of ``economic_qs_linear``'s low-rank
   eigendecomposition, for n ≫ k)

   .. math::

       V_c^{-1} = \\delta^{-1}\\big(I - a\\,W_c(I + a\\,W_c^\\top W_c)^{-1}W_c^\\top\\big),

   so one Cholesky factor of the k_c × k_c matrix (a sub-block of the Gram of all model
   variants, computed once in float64) gives every :math:`g^\top V_c^{-1}g`, one GEMM
   :math:`W_c^\top G` per block of tested variants, streamed from the files. That GEMM
   is the reference's cost (2nkm flops, 2.5e13 at n = m = 50,000); ``--reference-precision
   float32`` (the default) runs it in float32, every other step in float64 (at n = 2,000
   the χ² of the two precisions differ by about 1e-6 relative; see docs/benchmarks.md).
   The statistic is kinmix's LRT :math:`\\chi^2 = n\\log(R_0/R_1)` with the REML
   projection (intercept covariate).

It prints the wall time of each step, the CG iterations per stage, δ and the calibration
constants per chromosome, the agreement of the calibrated-mode statistics with the exact
reference (χ² ratio for reference χ² > 10, max |Δ−log10 p| over all variants; the
issue's targets [0.96, 1.04] and 0.15), the agreement of the refined variants (exact
against exact: a check of the reference itself), and the peak memory of the CG process
(target ≤ 8 GiB at n = m = 50,000) and of this process. ``--folder`` keeps the
PLINK files (default: a temporary folder, removed at the end). Progress (the end of each
step, kinmix's CG and REML log lines) goes to stderr with time stamps.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.linalg import cho_factor, cho_solve, solve_triangular
from scipy.special import chdtrc

from _timing import peak_resident_gib
from kinmix.io import read_plink
from kinmix.matfree import GenotypeGRM, matfree_scan
from kinmix.matfree.association import refine as refine_stage
from kinmix.matfree.operator import decode_standardised, encode
from kinmix.matfree.pipeline import TOLERANCES
from kinmix.simulate import simulate_families_to_plink

#: Variants read, standardised and multiplied at a time by the reference.
READ_BLOCK = 500
#: Reference χ² above which the ratio of the calibrated χ² is checked.
STRONG = 10.0


def cg_pipeline(prefix: Path, trait: np.ndarray, model: np.ndarray, refine: int) -> dict:
    """The CG pipeline on the files (spawned process): statistics, δ, iterations, wall
    times and the process's own peak memory. kinmix's CG and REML progress goes to stderr
    with time stamps.

    First :func:`matfree_scan` in calibrated mode (Monte-Carlo REML δ per chromosome,
    LOCO solves, the calibrated statistic of every variant, no refine). Then the refine
    stage (:func:`kinmix.matfree.association.refine`, float64 solves to the pipeline's
    refine tolerance) of the ``refine`` variants of smallest p at that δ, on the scan's own
    encoded genotypes (:meth:`GenotypeGRM.from_genotypes` is wrapped here to keep them):
    this cohort has no p < 1e-6, so the default rule would refine none and leave the
    stage unmeasured.
    """
    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("kinmix.matfree").setLevel(logging.INFO)
    build = GenotypeGRM.from_genotypes.__func__
    built = []

    def recording(cls, genotypes, chromosomes, **options):
        built.append(build(cls, genotypes, chromosomes, **options))
        return built[-1]

    GenotypeGRM.from_genotypes = classmethod(recording)
    start = time.perf_counter()
    calibrated = matfree_scan(read_plink(prefix), trait, model=model, refine_pvalue=0.0,
                              refine_error=None)
    calibrated_seconds = time.perf_counter() - start
    info = calibrated.attrs["matfree"]
    note(f"calibrated-mode scan done ({calibrated_seconds:.0f} s)")
    start = time.perf_counter()
    op = built[0]
    stored_of_input = np.argsort(op.order)
    chosen = np.argsort(calibrated["pvalue"].to_numpy())[:refine]
    idx, stats, solution = refine_stage(
        op, np.asarray(trait, dtype=np.float64), np.ones((op.n, 1)),
        np.sort(stored_of_input[chosen]),
        {g: info["delta"][label] for g, label in enumerate(op.groups)},
        tol=TOLERANCES["refine"], maxiter=500,
    )
    refined_seconds = time.perf_counter() - start
    return {
        "calibrated": calibrated[["chrom", "chi2", "pvalue"]], "info": info,
        "refined": (op.order[idx], stats.chi2, stats.pvalue), "refine_iterations":
        solution.iterations, "seconds": (calibrated_seconds, refined_seconds),
        "peak": peak_resident_gib(),
    }


def standardised(genotypes, index: np.ndarray) -> tuple[np.ndarray, int]:
    """float64 standardised dosages (kinmix's: mean-imputed, 1/sd with sd over n) of the
    variants ``index``, and how many of them are not constant."""
    codes, mean, inv_sd, _ = encode(genotypes.read(index))
    return decode_standardised(codes, mean, inv_sd, np.float64), int(np.count_nonzero(inv_sd))


def note(message: str) -> None:
    """A time-stamped progress line on stderr."""
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def lowrank_reference(prefix: Path, trait: np.ndarray, model: np.ndarray, deltas: dict,
                      precision: str = "float64") -> tuple[np.ndarray, np.ndarray, float]:
    """Exact LOCO χ² and p of every variant at ``deltas`` (see the module notes), and the
    seconds spent on the Gram of the model variants; ``precision`` is that of the GEMMs
    :math:`W_c^\top G` of the tested variants."""
    genotypes = read_plink(prefix)
    labels = genotypes.variants["chrom"].to_numpy().astype(str)
    n, m = genotypes.shape
    model_index = np.flatnonzero(model)
    W = np.empty((n, model_index.size), order="F")
    informative = np.zeros(model_index.size, dtype=bool)
    for lo in range(0, model_index.size, READ_BLOCK):
        index = model_index[lo : lo + READ_BLOCK]
        W[:, lo : lo + index.size], _ = standardised(genotypes, index)
        informative[lo : lo + index.size] = W[:, lo : lo + index.size].any(axis=0)
    note(f"reference: {model_index.size} model variants read")
    start = time.perf_counter()
    gram = W.T @ W
    gram_seconds = time.perf_counter() - start
    y = np.asarray(trait, dtype=np.float64)
    chi2, pvalue = np.full(m, np.nan), np.full(m, np.nan)
    for label in dict.fromkeys(labels.tolist()):
        delta = float(deltas[label])
        off = labels[model_index] != label
        k = int(np.count_nonzero(off & informative))
        a = (1.0 - delta) / (delta * k)
        Woff = W[:, off]
        Woff_gemm = Woff.astype(precision, copy=False)
        factor = cho_factor(np.eye(off.sum()) + a * gram[np.ix_(off, off)], lower=True)
        uv = np.column_stack([y, np.ones(n)])
        Vinv = (uv - a * (Woff @ cho_solve(factor, Woff.T @ uv))) / delta
        Vinv_y, Vinv_1 = Vinv[:, 0], Vinv[:, 1]
        ones_V_ones = Vinv_1.sum()
        Py = Vinv_y - Vinv_1 * (Vinv_y.sum() / ones_V_ones)
        rss0 = float(y @ Py)
        tested = np.flatnonzero(labels == label)
        for lo in range(0, tested.size, READ_BLOCK):
            index = tested[lo : lo + READ_BLOCK]
            Z, _ = standardised(genotypes, index)
            WtZ = (Woff_gemm.T @ Z.astype(precision, copy=False)).astype(np.float64)
            S = solve_triangular(factor[0], WtZ, lower=True)
            gVg = (np.einsum("ij,ij->j", Z, Z) - a * np.einsum("ij,ij->j", S, S)) / delta
            gV1 = Z.T @ Vinv_1
            denominator = gVg - gV1**2 / ones_V_ones
            numerator = Z.T @ Py
            with np.errstate(divide="ignore", invalid="ignore"):
                explained = numerator**2 / (denominator * rss0)
                chi2[index] = -n * np.log1p(-explained)
            pvalue[index] = chdtrc(1, chi2[index])
        del Woff, Woff_gemm
        note(f"reference: chromosome {label} done")
    return chi2, pvalue, gram_seconds


def agreement(chi2, pvalue, ref_chi2, ref_pvalue, rows) -> tuple[np.ndarray, float, float]:
    """χ² ratios on the strong ``rows``, max |Δ−log10 p| and max |Δχ²| over ``rows``."""
    rows = rows & np.isfinite(ref_chi2)
    strong = rows & (ref_chi2 > STRONG)
    ratio = chi2[strong] / ref_chi2[strong]
    dlogp = np.abs(np.log10(pvalue[rows]) - np.log10(ref_pvalue[rows]))
    return ratio, float(np.nanmax(dlogp)), float(np.nanmax(np.abs(chi2 - ref_chi2)[rows]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--variants", type=int, default=10000)
    parser.add_argument("--model-variants", type=int, default=5000,
                        help="kinship from this many evenly spread variants")
    parser.add_argument("--refine", type=int, default=50,
                        help="refine this many variants of smallest p (CG refine stage)")
    parser.add_argument("--reference-precision", choices=("float32", "float64"),
                        default="float32", help="GEMM precision of the exact reference")
    parser.add_argument("--folder", type=Path, default=None,
                        help="write (and keep) the PLINK files here")
    args = parser.parse_args(argv)
    n, m, k = args.samples, args.variants, args.model_variants
    families = n // 8
    with tempfile.TemporaryDirectory() as scratch:
        prefix = (args.folder or Path(scratch)) / "cohort"
        start = time.perf_counter()
        files = simulate_families_to_plink(
            prefix, families=families, children=2, unrelated=n - 4 * families, variants=m,
            chromosomes=10, h2=0.5, missing=0.005, seed=7,
        )
        write_seconds = time.perf_counter() - start
        note(f"cohort written ({write_seconds:.0f} s)")
        model = np.zeros(m, dtype=bool)
        model[np.linspace(0, m - 1, k).astype(int)] = True
        spawn = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
            cg = pool.submit(cg_pipeline, files.prefix, files.trait, model,
                             args.refine).result()
        info = cg["info"]
        note(f"CG pipeline done ({sum(cg['seconds']):.0f} s)")
        start = time.perf_counter()
        ref_chi2, ref_pvalue, gram_seconds = lowrank_reference(
            files.prefix, files.trait, model, info["delta"], args.reference_precision)
        reference_seconds = time.perf_counter() - start
    refined, calibrated = cg["refined"], cg["calibrated"]
    print(f"cohort: n = {n}, m = {m}, 10 chromosomes, {families} families of 4, "
          f"{n - 4 * families} unrelated; kinship from {k} evenly spread variants; "
          f"reference max χ² {np.nanmax(ref_chi2):.1f}, "
          f"{int((ref_chi2 > STRONG).sum())} variants with χ² > {STRONG:g}")
    print(f"{'step':<44}{'seconds':>10}")
    for name, sec in (("write PLINK files (simulate_families_to_plink)", write_seconds),
                      ("matfree_scan, calibrated mode (REML δ)", cg["seconds"][0]),
                      (f"refine stage, {args.refine} variants", cg["seconds"][1]),
                      (f"exact low-rank LOCO reference ({args.reference_precision})",
                       reference_seconds),
                      ("  of which the Gram of the model variants", gram_seconds)):
        print(f"{name:<44}{sec:>10.1f}")
    iterations = info["iterations"]
    print(f"CG iterations: reml {iterations['reml']} (per secant evaluation), loco "
          f"{iterations['loco']}, refine {cg['refine_iterations']} ({args.refine} variants)")
    print(f"δ per chromosome: {np.round(list(info['delta'].values()), 4).tolist()}")
    print(f"calibration constants per chromosome: "
          f"{np.round(list(info['calibration'].values()), 4).tolist()} (jackknife SE "
          f"{np.round(list(info['calibration_se'].values()), 4).tolist()}); scatter "
          f"{info['scatter']:.4f}")
    everything = np.ones(m, dtype=bool)
    ratio, dlogp, _ = agreement(calibrated["chi2"].to_numpy(), calibrated["pvalue"].to_numpy(),
                                ref_chi2, ref_pvalue, everything)
    print(f"calibrated mode vs exact reference at the same δ: χ² ratio for χ² > {STRONG:g} "
          f"({ratio.size} variants) in [{ratio.min():.4f}, {ratio.max():.4f}] (target "
          f"[0.96, 1.04]); max |Δ−log10 p| {dlogp:.3f} (target ≤ 0.15)")
    rows, chi2, pvalue = refined
    if rows.size:
        dchi2 = np.nanmax(np.abs(chi2 - ref_chi2[rows]))
        dlogp = np.nanmax(np.abs(np.log10(pvalue) - np.log10(ref_pvalue[rows])))
        print(f"the {rows.size} refined variants vs the reference: max |Δχ²| {dchi2:.2e}, "
              f"max |Δ−log10 p| {dlogp:.2e}")
    print(f"peak resident memory: CG process {cg['peak']:.2f} GiB (target ≤ 8); this "
          f"process (files, exact reference) {peak_resident_gib():.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
