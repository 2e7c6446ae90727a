"""End-to-end LOCO scan from PLINK files: kinmix against its cost floor and FaST-LMM.

Command (from the repository root; FaST-LMM only when the peer environment exists)::

    source ../shared/tools/peer-env.sh; .venv/bin/python benchmarks/workflow.py
    .venv/bin/python benchmarks/workflow.py --samples 1000 --variants 6000 --chromosomes 4

Steps, all in one run: ``kinmix simulate`` writes a cohort (default 3,000 samples × 30,000
variants on 10 chromosomes); ``kinmix scan`` runs LOCO end to end in a child process (its
``summary.json`` gives the time of each step; the child's peak resident memory is read
from its ``VmHWM``, and so is that of the same command on a tiny cohort, 60 samples × 600
variants, whose peak is the code's and the libraries' own); the floor is measured in this
process on arrays of the same shapes: one ``syrk`` over all variants (the kinship), one
``eigh`` per chromosome (LAPACK's ``syevr``, the faster of it and ``numpy.linalg.eigh``'s
``syevd``) and the rotation GEMM :math:`Q^\\top G` over all variants; FaST-LMM 0.6.13
``single_snp`` with ``leave_out_one_chrom=True`` runs on the same files and covariates in
``$PEER_PY``. For one trait kinmix computes no eigenvectors (:mod:`kinmix.workflow.whitened`),
so the run also prints the floor of its own kernels: the ``syrk``, one tridiagonal reduction
and one Cholesky factor per chromosome and the whitening triangular solve over all variants.
Targets: kinmix ≤ 0.4 × FaST-LMM and ≤ 1.25 × the floor; peak memory above the tiny
cohort's run ≤ 3 n×n float64 matrices + one block of variants. (The peak above a bare
interpreter that imports the CLI is printed too; since kinmix loads its modules when a run
first needs them, that figure also counts code.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FASTLMM = """
import sys, time
from pysnptools.snpreader import Bed
from fastlmm.association import single_snp
prefix, pheno, covar = sys.argv[1:4]
start = time.perf_counter()
single_snp(Bed(prefix, count_A1=True), pheno, covar=covar, leave_out_one_chrom=True,
           count_A1=True)
print(time.perf_counter() - start)
"""


def run(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


#: Runs ``python -m kinmix.cli ARGS`` (or, with no ARGS, only imports what ``kinmix scan``
#: loads) and writes the process's own peak resident set, in bytes, to the file ``argv[1]``.
MEASURED = """
import atexit, runpy, sys
out = sys.argv.pop(1)
def peak():  # VmHWM, kB: this address space's own peak (see ``measured``)
    line = next(x for x in open("/proc/self/status") if x.startswith("VmHWM"))
    open(out, "w").write(str(int(line.split()[1]) * 1024))
atexit.register(peak)
if len(sys.argv) > 1:
    runpy.run_module("kinmix.cli", run_name="__main__", alter_sys=True)
else:
    import kinmix.cli, bed_reader, pyarrow, matplotlib.pyplot
"""


def measured(arguments: list[str], record: Path) -> tuple[float, int]:
    """Seconds and peak resident bytes of ``kinmix ARGUMENTS`` in a child process.

    The peak is the child's ``VmHWM``, not ``ru_maxrss``: Linux carries the peak of the
    address space a process leaves at ``execve`` into it, so a child's ``ru_maxrss`` is at
    least this script's resident size when it started the child."""
    seconds = run([sys.executable, "-c", MEASURED, str(record), *arguments])
    return seconds, int(record.read_text())


def scan_arguments(prefix: Path, out: Path) -> list[str]:
    """``kinmix scan`` of the simulated cohort ``prefix`` into a fresh folder ``out``."""
    shutil.rmtree(out, ignore_errors=True)  # a kept folder's checkpoints would be resumed
    return [
        "scan",
        "--bfile",
        str(prefix),
        "--pheno",
        f"{prefix}.pheno.tsv",
        "--pheno-name",
        "continuous",
        "--covar",
        f"{prefix}.covar.tsv",
        "--covar-name",
        "age,sex",
        "--method",
        "exact",
        "--out",
        str(out),
        "--quiet",
    ]


def floor(n: int, m: int, chromosomes: int, block: int) -> dict[str, float]:
    """Seconds of the bare kernels of an exact LOCO scan, on random arrays of its shapes."""
    from scipy.linalg import eigh
    from scipy.linalg.blas import dsyrk

    rng = np.random.default_rng(0)
    Z = np.asfortranarray(rng.standard_normal((n, min(block, m))))
    gram = np.zeros((n, n), order="F")
    start = time.perf_counter()
    for _ in range(0, m, Z.shape[1]):
        dsyrk(1.0, Z, beta=1.0, c=gram, overwrite_c=1)
    syrk = (time.perf_counter() - start) * m / (Z.shape[1] * -(-m // Z.shape[1]))
    K = np.triu(gram) + np.triu(gram, 1).T
    K /= m
    times = {"syrk (kinship)": syrk}
    start = time.perf_counter()
    eigh(np.asfortranarray(K), overwrite_a=True, check_finite=False, driver="evr")
    evr = time.perf_counter() - start
    start = time.perf_counter()
    np.linalg.eigh(K)
    evd = time.perf_counter() - start
    one = min(evr, evd)
    rest = 0.0
    for _ in range(chromosomes - 1):
        start = time.perf_counter()
        if evr <= evd:
            eigh(np.asfortranarray(K), overwrite_a=True, check_finite=False, driver="evr")
        else:
            np.linalg.eigh(K)
        rest += time.perf_counter() - start
    times[f"eigh × {chromosomes}"] = one + rest
    Q = np.ascontiguousarray(rng.standard_normal((n, n)))
    start = time.perf_counter()
    for _ in range(0, m, Z.shape[1]):
        Q.T @ Z
    times["rotation GEMM"] = (time.perf_counter() - start) * m / (Z.shape[1] * -(-m // Z.shape[1]))
    return times


def route_floor(n: int, m: int, chromosomes: int, block: int, syrk: float) -> dict[str, float]:
    """Seconds of the bare kernels of kinmix's route for one trait (no eigenvectors): the
    kinship ``syrk``, per chromosome the tridiagonal reduction (``dsytrd``) and the Cholesky
    factor (``dpotrf``), and the whitening triangular solve over all variants."""
    from scipy.linalg import lapack
    from scipy.linalg.blas import dtrsm

    rng = np.random.default_rng(1)
    Z = rng.standard_normal((n, n + 64))
    K = np.asfortranarray(Z @ Z.T / Z.shape[1])
    lwork = int(lapack.dsytrd_lwork(n, lower=0)[0])
    reduce = factor = 0.0
    for _ in range(chromosomes):
        A = K.copy(order="F")
        start = time.perf_counter()
        lapack.dsytrd(A, lower=0, lwork=lwork, overwrite_a=1)
        reduce += time.perf_counter() - start
        A = K.copy(order="F")
        start = time.perf_counter()
        U, _ = lapack.dpotrf(A, lower=0, overwrite_a=1, clean=0)
        factor += time.perf_counter() - start
    G = np.asfortranarray(rng.standard_normal((n, min(block, m))))
    start = time.perf_counter()
    for _ in range(0, m, G.shape[1]):
        dtrsm(1.0, U, G, lower=0, trans_a=1)
    solve = (time.perf_counter() - start) * m / (G.shape[1] * -(-m // G.shape[1]))
    return {"syrk (kinship)": syrk, f"dsytrd × {chromosomes}": reduce,
            f"dpotrf × {chromosomes}": factor, "whitening trsm": solve}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--variants", type=int, default=30000)
    parser.add_argument("--chromosomes", type=int, default=10)
    parser.add_argument("--keep", metavar="DIR", help="keep the files in DIR")
    args = parser.parse_args()
    n, m, C = args.samples, args.variants, args.chromosomes
    folder = Path(args.keep or tempfile.mkdtemp(prefix="kinmix-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    prefix = folder / "cohort"
    kinmix = [sys.executable, "-m", "kinmix.cli"]
    simulate = run(
        [
            *kinmix,
            "simulate",
            "--out",
            str(prefix),
            "--samples",
            str(n),
            "--variants",
            str(m),
            "--chromosomes",
            str(C),
            "--seed",
            "1",
            "--quiet",
        ]
    )
    _, bare = measured([], folder / "bare.rss")
    tiny = folder / "tiny"
    run(
        [
            *kinmix,
            "simulate",
            "--out",
            str(tiny),
            "--samples",
            "60",
            "--variants",
            "600",
            "--chromosomes",
            str(C),
            "--seed",
            "1",
            "--quiet",
        ]
    )
    _, baseline = measured(scan_arguments(tiny, folder / "tiny-scan"), folder / "tiny.rss")
    out = folder / "scan"
    total, scan_peak = measured(scan_arguments(prefix, out), folder / "scan.rss")
    peak = scan_peak - baseline
    steps = json.loads((out / "summary.json").read_text())["timings"]
    print(
        f"\nLOCO scan, {n} samples × {m} variants on {C} chromosomes "
        f"(simulated in {simulate:.1f} s)\n"
    )
    print(f"{'kinmix step':<24}{'seconds':>10}")
    for name, seconds in steps.items():
        print(f"{name:<24}{seconds:>10.2f}")
    print(f"{'kinmix scan (process)':<24}{total:>10.2f}", flush=True)
    from kinmix.workflow.options import variants_per_block

    block = int(np.clip(2**24 // n, 16, 4 * 4096))  # the floor's (larger, faster) block
    matrix = n * n * 8
    budget = 3 * matrix + n * min(variants_per_block(None, n), -(-m // C)) * 8
    print(
        f"peak memory above the tiny cohort's run = {peak / 2**20:.0f} MiB = "
        f"{peak / matrix:.2f} n×n matrices; budget 3 n×n + one block "
        f"= {budget / 2**20:.0f} MiB\n"
        f"(peak above a bare interpreter importing the CLI = "
        f"{(scan_peak - bare) / 2**20:.0f} MiB = {(scan_peak - bare) / matrix:.2f} n×n)",
        flush=True,
    )

    bare = floor(n, m, C, block)
    floor_total = sum(bare.values())
    print(f"\n{'floor kernel':<24}{'seconds':>10}")
    for name, seconds in bare.items():
        print(f"{name:<24}{seconds:>10.2f}")
    print(f"{'floor':<24}{floor_total:>10.2f}")
    print(f"kinmix / floor    = {total / floor_total:.2f}   (target ≤ 1.25)", flush=True)
    own = route_floor(n, m, C, block, bare["syrk (kinship)"])
    own_total = sum(own.values())
    print(f"\n{'route kernel':<24}{'seconds':>10}")
    for name, seconds in own.items():
        print(f"{name:<24}{seconds:>10.2f}")
    print(f"{'route floor':<24}{own_total:>10.2f}")
    print(f"kinmix / route floor = {total / own_total:.2f}   (kinmix's own kernels, "
          "no eigenvectors)", flush=True)

    peer = os.environ.get("PEER_PY")
    if not (peer and Path(peer).exists()):
        print("FaST-LMM: peer environment absent (source ../shared/tools/peer-env.sh)")
        return 0
    pheno = pd.read_csv(f"{prefix}.pheno.tsv", sep="\t")
    pheno = pheno.dropna(subset=["continuous"])[["FID", "IID", "continuous"]]
    pheno.to_csv(folder / "fastlmm.pheno.txt", sep=" ", header=False, index=False)
    covar = pd.read_csv(f"{prefix}.covar.tsv", sep="\t")[["FID", "IID", "age", "sex"]]
    covar.to_csv(folder / "fastlmm.covar.txt", sep=" ", header=False, index=False)
    fastlmm = run(
        [
            peer,
            "-c",
            FASTLMM,
            str(prefix),
            str(folder / "fastlmm.pheno.txt"),
            str(folder / "fastlmm.covar.txt"),
        ]
    )
    print(f"\nFaST-LMM LOCO     = {fastlmm:.2f} s")
    print(f"kinmix / FaST-LMM = {total / fastlmm:.2f}   (target ≤ 0.4)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
