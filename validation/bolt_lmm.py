"""Matrix-free LOCO scan against BOLT-LMM's infinitesimal model at BOLT's δ.

Command (from the repository root; Debian package ``bolt-lmm`` provides ``bolt``)::

    .venv/bin/python validation/bolt_lmm.py [--samples 2000] [--variants 10000] [--cg-tol 1e-5]

A cohort of nuclear families plus unrelated people is simulated
(:func:`kinmix.simulate.simulate_families`), written as PLINK files and analysed by
``bolt --lmmInfOnly --verboseStats``. BOLT estimates one δ (its ``logDelta`` is
log(σ²_e/σ²_g)); kinmix's matrix-free scan then runs at that δ on every chromosome with
calibrated denominators (no refine), and the per-variant ratio of its χ² to
``CHISQ_BOLT_LMM_INF`` is summarised. Passes when the 1–99 % range of the ratio lies in
[0.98, 1.02]; exits 1 otherwise.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kinmix.matfree import matfree_scan
from kinmix.simulate import simulate_families

BOUNDS = (0.98, 1.02)


def write_plink(prefix: Path, G: np.ndarray, chromosomes: np.ndarray, y: np.ndarray) -> None:
    """PLINK fileset and a phenotype file ``prefix.pheno`` (FID IID y)."""
    import bed_reader

    n, m = G.shape
    fid = [f"f{i}" for i in range(n)]
    bed_reader.to_bed(
        f"{prefix}.bed", G.astype(np.float32),
        properties={"chromosome": chromosomes, "sid": [f"rs{j}" for j in range(m)],
                    "bp_position": np.arange(m) * 1000 + 1, "cm_position": np.arange(m) * 1e-3,
                    "fid": fid, "iid": fid},
    )
    pd.DataFrame({"FID": fid, "IID": fid, "y": y}).to_csv(
        f"{prefix}.pheno", sep=" ", index=False, float_format="%.17g"
    )


def run_bolt(
    prefix: Path, threads: int, cg_tol: float | None = None
) -> tuple[pd.DataFrame, float, float]:
    """BOLT-LMM-inf statistics, BOLT's δ = λ/(1+λ) (λ = σ²_e/σ²_g) and the wall time.

    ``cg_tol`` is passed as ``--CGtol`` (BOLT's default, 5e-3, leaves relative errors of
    that order in the numerators of weak variants).
    """
    start = time.perf_counter()
    command = [
        "bolt", "--bfile", str(prefix), "--phenoFile", f"{prefix}.pheno", "--phenoCol", "y",
        "--lmmInfOnly", "--verboseStats", "--numThreads", str(threads),
        "--maxMissingPerSnp", "1", "--maxMissingPerIndiv", "1",
        "--statsFile", f"{prefix}.stats",
    ]
    if cg_tol is not None:
        command += ["--CGtol", str(cg_tol)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    Path(f"{prefix}.bolt.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"bolt failed ({done.returncode}); see {prefix}.bolt.log")
    match = re.search(r"Variance params:.*logDelta = (-?[0-9.eE+-]+)", done.stdout)
    lam = float(np.exp(float(match.group(1))))
    return pd.read_csv(f"{prefix}.stats", sep="\t"), lam / (1 + lam), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--variants", type=int, default=10000)
    parser.add_argument("--chromosomes", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cg-tol", type=float, default=1e-5,
                        help="BOLT's --CGtol (its default 5e-3 is too loose to compare)")
    args = parser.parse_args(argv)
    families = args.samples // 8
    cohort = simulate_families(families=families, children=2,
                      unrelated=args.samples - 4 * families, variants=args.variants,
                      chromosomes=args.chromosomes, h2=0.5, missing=0.005, seed=1)
    with tempfile.TemporaryDirectory() as folder:
        prefix = Path(folder) / "cohort"
        write_plink(prefix, cohort.dosages, cohort.chromosomes, cohort.trait)
        bolt, delta, bolt_seconds = run_bolt(prefix, args.threads, args.cg_tol)
    start = time.perf_counter()
    ours = matfree_scan(cohort.dosages, cohort.trait, chromosomes=cohort.chromosomes, delta=delta,
                        refine_pvalue=0.0, refine_error=None,
                        variants=[f"rs{j}" for j in range(args.variants)])
    ours_seconds = time.perf_counter() - start
    merged = ours.merge(bolt, left_on="variant", right_on="SNP")
    ratio = (merged["chi2"] / merged["CHISQ_BOLT_LMM_INF"]).to_numpy()
    finite = np.isfinite(ratio)
    strong = ratio[finite & (merged["CHISQ_BOLT_LMM_INF"] > 10).to_numpy()]
    ratio = ratio[finite]
    low, high = np.percentile(ratio, [1, 99])
    ok = BOUNDS[0] <= low and high <= BOUNDS[1]
    print(f"cohort: n = {cohort.dosages.shape[0]}, m = {args.variants}, "
          f"{args.chromosomes} chromosomes; BOLT δ = {delta:.5f} (h2 = {1 - delta:.4f})")
    print(f"compared: kinmix matfree chi2 (calibrated, δ = BOLT's) / CHISQ_BOLT_LMM_INF "
          f"over {ratio.size} variants")
    print(f"ratio 1-99% range: [{low:.4f}, {high:.4f}] (required within {BOUNDS}); "
          f"median {np.median(ratio):.4f}; {strong.size} with BOLT chi2 > 10: "
          f"[{strong.min(initial=np.inf):.4f}, {strong.max(initial=-np.inf):.4f}]")
    print(f"max discrepancy |ratio - 1| over 1-99%: {max(1 - low, high - 1):.4f}")
    print(f"wall time: BOLT {bolt_seconds:.1f} s, kinmix matfree scan {ours_seconds:.1f} s")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
