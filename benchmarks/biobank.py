"""The matrix-free LOCO pipeline against BOLT-LMM (and optionally the exact path), same run.

For one simulated cohort of nuclear families plus unrelated people (``n`` samples, ``m``
hard-call variants on 10 chromosomes, written once as PLINK files) it times:

- ``bolt``: ``bolt --lmmInfOnly`` (REML δ, LOCO solves, every variant's statistic);
- ``matfree``: :func:`kinmix.matfree.matfree_scan` from the same PLINK files, end to end
  (encode, Monte-Carlo REML per chromosome, LOCO solves, calibrated scan, refine of
  p < 1e-6);
- ``exact`` (``--exact``): kinmix's exact LOCO scan (:func:`kinmix.gwas.loco_scan`: one
  Gram, then a downdate, eigendecomposition and REML fit per chromosome), with the
  agreement of the matrix-free statistics to it: end to end (and the whole-genome h² of
  Monte-Carlo REML against exact REML, in units of the REML SE), and at each chromosome's
  exact δ in calibrated mode (no refine), in default mode and with the exact refine
  applied to the ``--refine-top`` variants of smallest p (every variant with
  ``--refine-top 0``; at n = 5,000 that costs an hour of float64 solves).

``--model-variants k`` builds the kinship from k variants spread evenly over the genome
(every variant is still tested), so that the n = 20k and 50k runs stay affordable.

It prints wall times with ratios to BOLT, the CG iterations of each stage, δ per
chromosome, the calibration constant of each chromosome with its jackknife SE, and the peak
resident memory of the matfree scan (run in a fresh process that reads the PLINK files) and
of the benchmark's own process, each its own (``VmHWM``; ``ru_maxrss`` would give the
spawned process its parent's peak, see :func:`_timing.peak_resident_gib`). The n = m =
50,000 run is ``benchmarks/biobank_50k.py``. Commands::

    python benchmarks/biobank.py --quick --exact          # n = 2,000, m = 5,000 (minutes)
    python benchmarks/biobank.py --exact                  # n = 5,000, m = 20,000: the
                                                          #   issue's configuration (BOLT
                                                          #   target and exactness checks)
    python benchmarks/biobank.py --samples 20000 --variants 5000 --no-bolt --max-refine 100

The n = 20k and 50k runs are for a dedicated machine (not CI, not a shared box).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "validation"))

from _timing import peak_resident_gib  # noqa: E402
from bolt_lmm import run_bolt, write_plink  # noqa: E402
from kinmix import estimate_h2, grm  # noqa: E402
from kinmix.gwas import _loco, loco_scan  # noqa: E402
from kinmix.io import read_plink  # noqa: E402
from kinmix.matfree import GenotypeGRM, matfree_scan  # noqa: E402
from kinmix.simulate import simulate_families  # noqa: E402


def exact_loco(G, chromosomes, y):
    """kinmix's exact LOCO scan (:func:`kinmix.gwas.loco_scan`, REML δ per chromosome)
    and the REML δ of each chromosome's null fit, read from the scan's own null states
    (no second eigendecomposition)."""
    deltas = {}
    null_of = _loco.loco_null

    def recording(inputs, chromosome):
        state = null_of(inputs, chromosome)
        deltas[chromosome] = float(state.deltas[0])
        return state

    _loco.loco_null = recording
    try:
        table = loco_scan(G, y, chromosomes=chromosomes, restricted=True)
    finally:
        _loco.loco_null = null_of
    return table, deltas


def scan_files(prefix: Path, y: np.ndarray, model: np.ndarray | None, max_refine: int):
    """:func:`kinmix.matfree.matfree_scan` of the PLINK files at ``prefix`` (run in a fresh
    process): the table, its wall time and the process's peak resident memory in GiB."""
    start = time.perf_counter()
    table = matfree_scan(read_plink(prefix), y, model=model, max_refine=max_refine)
    seconds = time.perf_counter() - start
    return table, seconds, peak_resident_gib()


def agreement(table, reference, strong: np.ndarray) -> tuple[np.ndarray, float]:
    """χ² ratios of ``table`` to ``reference`` on the ``strong`` rows, and the largest
    absolute difference in −log10 p over all rows."""
    ratio = table["chi2"].to_numpy()[strong] / reference["chi2"].to_numpy()[strong]
    dlogp = np.abs(np.log10(table["pvalue"].to_numpy())
                   - np.log10(reference["pvalue"].to_numpy()))
    return ratio, float(np.nanmax(dlogp))

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--variants", type=int, default=20000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="n = 2,000, m = 5,000")
    parser.add_argument("--no-bolt", action="store_true", help="skip BOLT-LMM")
    parser.add_argument("--exact", action="store_true", help="also run the exact LOCO scan")
    parser.add_argument("--refine-top", type=int, default=500,
                        help="exactness check: refine the N smallest p (0: every variant)")
    parser.add_argument("--max-refine", type=int, default=1000,
                        help="matfree_scan's cap on refined variants (its default: 1000)")
    parser.add_argument("--model-variants", type=int, default=None,
                        help="kinship from this many evenly spread variants (default: all)")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.variants = 2000, 5000
    n, m = args.samples, args.variants
    families = n // 8
    cohort = simulate_families(families=families, children=2, unrelated=n - 4 * families,
                      variants=m, chromosomes=10, h2=0.5, missing=0.005, seed=7)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        prefix = Path(folder) / "cohort"
        write_plink(prefix, cohort.dosages, cohort.chromosomes, cohort.trait)
        bolt_seconds = None
        if not args.no_bolt:
            try:
                _, bolt_delta, bolt_seconds = run_bolt(prefix, args.threads)
                rows.append(("bolt --lmmInfOnly", bolt_seconds, f"δ = {bolt_delta:.4f}"))
            except (FileNotFoundError, subprocess.SubprocessError) as exc:
                print(f"BOLT-LMM not run: {exc}")
        model = None
        if args.model_variants:
            model = np.zeros(m, dtype=bool)
            model[np.linspace(0, m - 1, args.model_variants).astype(int)] = True
        spawn = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
            table, seconds, scan_peak = pool.submit(
                scan_files, prefix, cohort.trait, model, args.max_refine).result()
        rows.append(("kinmix matfree_scan", seconds, f"peak RSS {scan_peak:.2f} GiB"))
    info = table.attrs["matfree"]
    if args.exact:
        start = time.perf_counter()
        reference, deltas = exact_loco(cohort.dosages, cohort.chromosomes, cohort.trait)
        rows.append(("kinmix exact LOCO", time.perf_counter() - start, ""))
    print(f"cohort: n = {n}, m = {m}, 10 chromosomes, {families} families of 4, "
          f"{n - 4 * families} unrelated; kinship from "
          f"{args.model_variants or m} variants; max χ² {table['chi2'].max():.1f}, "
          f"{int((table['chi2'] > 10).sum())} variants with χ² > 10")
    print(f"{'method':<22}{'seconds':>10}{'/ BOLT':>10}  note")
    for name, sec, note in rows:
        ratio = f"{sec / bolt_seconds:.2f}" if bolt_seconds else "-"
        print(f"{name:<22}{sec:>10.1f}{ratio:>10}  {note}")
    reml = info["iterations"]["reml"]
    print(f"CG iterations: reml {reml} (per secant evaluation), loco "
          f"{info['iterations']['loco']}, refine {info['iterations'].get('refine', '-')} "
          f"({info['refined']} variants refined)")
    deltas_mf = np.array(list(info["delta"].values()))
    print(f"δ per chromosome: {np.round(deltas_mf, 4).tolist()}")
    kappa = np.array(list(info["calibration"].values()))
    kappa_se = np.array(list(info["calibration_se"].values()))
    print(f"calibration constants per chromosome: {np.round(kappa, 4).tolist()} (jackknife "
          f"SE {np.round(kappa_se, 4).tolist()})")
    print(f"calibration scatter (SD of exact / calibrated denominators): "
          f"{info['scatter']:.4f}; largest error bound left on a calibrated −log10 p: "
          f"{info['unrefined_error']:.3f}")
    if args.exact:
        exact_delta = np.array(list(deltas.values()))
        strong = reference["chi2"].to_numpy() > 10
        ratio, dlogp = agreement(table, reference, strong)
        X = np.ones((n, 1))
        h2_exact = estimate_h2(cohort.trait, X, grm(cohort.dosages))
        h2_mf = estimate_h2(cohort.trait, X,
                            GenotypeGRM.from_genotypes(cohort.dosages, cohort.chromosomes))
        print(f"end to end vs exact: whole-genome h² {h2_mf.h2:.4f} (MC REML) vs "
              f"{h2_exact.h2:.4f} ± {h2_exact.h2_se:.4f} (REML): |Δh²| = "
              f"{abs(h2_mf.h2 - h2_exact.h2) / h2_exact.h2_se:.2f} SE; per chromosome max "
              f"|Δh²| {np.abs(exact_delta - deltas_mf).max():.4f} = "
              f"{np.abs(exact_delta - deltas_mf).max() / h2_exact.h2_se:.2f} SE; χ² ratio "
              f"for χ² > 10 in [{ratio.min():.4f}, {ratio.max():.4f}]; max |Δ−log10 p| "
              f"{dlogp:.3f}")
        start = time.perf_counter()
        top = args.refine_top or None
        exact = matfree_scan(cohort.dosages, cohort.trait, chromosomes=cohort.chromosomes,
                             delta=deltas, refine_pvalue=1.0, refine_error=None,
                             max_refine=top)
        rows_exact = (exact["denominator"] == "exact").to_numpy()
        dchi2 = np.abs(exact["chi2"].to_numpy() - reference["chi2"].to_numpy())[rows_exact]
        dlog = np.abs(np.log10(exact["pvalue"].to_numpy())
                      - np.log10(reference["pvalue"].to_numpy()))[rows_exact]
        print(f"refine at the exact δ ({rows_exact.sum()} variants refined, the smallest p "
              f"first; {time.perf_counter() - start:.0f} s, refine CG iterations "
              f"{exact.attrs['matfree']['iterations'].get('refine', '-')}): max |Δχ²| "
              f"{np.nanmax(dchi2):.2e}, max |Δ−log10 p| {np.nanmax(dlog):.2e}")
        for label, options in (("calibrated mode", {"refine_pvalue": 0.0, "refine_error": None}),
                               ("default mode", {})):
            same = matfree_scan(cohort.dosages, cohort.trait, chromosomes=cohort.chromosomes,
                                delta=deltas, **options)
            ratio, dlogp = agreement(same, reference, strong)
            print(f"{label} at the exact δ: χ² ratio for χ² > 10 ({strong.sum()} variants) in "
                  f"[{ratio.min():.4f}, {ratio.max():.4f}]; max |Δ−log10 p| "
                  f"{dlogp:.3f}; {same.attrs['matfree']['refined']} refined")
    peak = peak_resident_gib()
    print(f"peak resident memory: matfree_scan's process {scan_peak:.2f} GiB; this "
          f"process (simulation, exact path) {peak:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
