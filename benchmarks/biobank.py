"""The matrix-free LOCO pipeline against BOLT-LMM (and optionally the exact path), same run.

For one simulated cohort of nuclear families plus unrelated people (``n`` samples, ``m``
hard-call variants on 10 chromosomes, written once as PLINK files) it times:

- ``bolt``: ``bolt --lmmInfOnly`` (REML δ, LOCO solves, every variant's statistic);
- ``matfree``: :func:`kinmix.matfree.matfree_scan` from the same PLINK files, end to end
  (encode, Monte-Carlo REML per chromosome, LOCO solves, calibrated scan, refine of
  p < 1e-6);
- ``exact`` (``--exact``): kinmix's exact LOCO scan (:func:`kinmix.gwas.loco_scan`: one
  Gram, then a downdate, eigendecomposition and REML fit per chromosome), with the
  agreement of the matrix-free statistics to it: end to end, and at the exact δ in
  calibrated mode (no refine) and in default mode.

It prints wall times with ratios to BOLT, the CG iterations of each stage, δ per
chromosome, the calibration constant of each chromosome with its jackknife SE, and the peak
resident memory of this process. Commands::

    python benchmarks/biobank.py --quick                  # n = 2,000, m = 5,000 (minutes)
    python benchmarks/biobank.py                          # n = 5,000, m = 20,000 (target:
                                                          #   matfree no slower than BOLT)
    python benchmarks/biobank.py --samples 20000 --variants 20000 --no-bolt   # manual
    python benchmarks/biobank.py --samples 50000 --variants 50000 --no-bolt   # manual,
                                                          #   ≥ 16 GiB RAM, an hour or more

The n = 20k and 50k runs are for a dedicated machine (not CI, not a shared box).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "validation"))

from bolt_lmm import run_bolt, write_plink  # noqa: E402
from kinmix import estimate_h2, grm  # noqa: E402
from kinmix.gwas import loco_scan  # noqa: E402
from kinmix.io import read_plink  # noqa: E402
from kinmix.matfree import matfree_scan  # noqa: E402
from kinmix.simulate import simulate_families  # noqa: E402


def exact_loco(G, chromosomes, y):
    """kinmix's exact LOCO scan (:func:`kinmix.gwas.loco_scan`, REML δ per chromosome)
    and each chromosome's REML δ (:func:`kinmix.estimate_h2` on its LOCO kinship)."""
    X = np.ones((G.shape[0], 1))
    deltas = {
        chrom: estimate_h2(y, X, grm(G[:, chromosomes != chrom])).delta
        for chrom in dict.fromkeys(chromosomes)
    }
    return loco_scan(G, y, chromosomes=chromosomes, restricted=True), deltas



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
        plink = read_plink(prefix)
        start = time.perf_counter()
        table = matfree_scan(plink, cohort.trait)
        seconds = time.perf_counter() - start
        rows.append(("kinmix matfree_scan", seconds, ""))
    info = table.attrs["matfree"]
    if args.exact:
        start = time.perf_counter()
        reference, deltas = exact_loco(cohort.dosages, cohort.chromosomes, cohort.trait)
        rows.append(("kinmix exact LOCO", time.perf_counter() - start, ""))
    print(f"cohort: n = {n}, m = {m}, 10 chromosomes, {families} families of 4")
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
        print(f"vs exact: max |Δh²| {np.abs(exact_delta - deltas_mf).max():.4f}; χ² ratio "
              f"for χ² > 10 in [{ratio.min():.4f}, {ratio.max():.4f}]; max |Δ−log10 p| "
              f"{dlogp:.3f}")
        for label, options in (("calibrated mode", {"refine_pvalue": 0.0, "refine_error": None}),
                               ("default mode", {})):
            same = matfree_scan(cohort.dosages, cohort.trait, chromosomes=cohort.chromosomes,
                                delta=deltas, **options)
            ratio, dlogp = agreement(same, reference, strong)
            print(f"{label} at the exact δ: χ² ratio for χ² > 10 ({strong.sum()} variants) in "
                  f"[{ratio.min():.4f}, {ratio.max():.4f}]; max |Δ−log10 p| "
                  f"{dlogp:.3f}; {same.attrs['matfree']['refined']} refined")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak resident memory of this process: {peak:.2f} GiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
