"""kinmix scan --test f against FaST-LMM 0.6.13 single_snp, with and without LOCO.

Command (from the repository root)::

    source ../shared/tools/peer-env.sh && .venv/bin/python validation/fastlmm_scan.py

FaST-LMM's own test data (``../shared/data/fastlmm/synth``: 500 samples, 5,000 variants on
5 chromosomes, one phenotype, one covariate), dosages counting A2 (``--count a2``,
FaST-LMM's ``count_A1=False``), the kinship from the same file. FaST-LMM fits the null h²
by REML (maximum likelihood after projecting out the covariates) and tests each variant
with δ fixed: F = β̂²/var(β̂), var(β̂) with the residual variance on n − c − 1 degrees of
freedom, p from F(1, n − c − 1) — kinmix's ``--test f``. The script prints, for each mode,
the number of variants and the largest relative difference in −log10 p, and exits 1 when
it exceeds 1e-4 (FaST-LMM runs in ``$PEER_PY``, a separate environment; it is not a kinmix
dependency).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from kinmix.cli import main as kinmix_main

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "fastlmm" / "synth"
TOLERANCE = 1e-4

FASTLMM = """
import sys
from pysnptools.snpreader import Bed
from fastlmm.association import single_snp
prefix, pheno, covar, loco, out = sys.argv[1:6]
bed = Bed(prefix, count_A1=False)
loco = loco == "1"
frame = single_snp(bed, pheno, K0=None if loco else bed, covar=covar,
                   leave_out_one_chrom=loco, count_A1=False)
frame[["SNP", "Chr", "PValue", "Nullh2"]].to_csv(out, sep="\\t", index=False)
"""


def fastlmm(peer_python: str, loco: bool, out: Path) -> pd.DataFrame:
    """FaST-LMM's single_snp table (SNP, Chr, PValue, Nullh2) on the synth data."""
    subprocess.run(
        [
            peer_python,
            "-c",
            FASTLMM,
            str(DATA / "all"),
            str(DATA / "pheno_10_causals.txt"),
            str(DATA / "cov.txt"),
            "1" if loco else "0",
            str(out),
        ],
        check=True,
    )
    return pd.read_csv(out, sep="\t")


def kinmix(loco: bool, out: Path) -> pd.DataFrame:
    """kinmix scan --test f --count a2 on the same files."""
    args = [
        "scan",
        "--bfile",
        str(DATA / "all"),
        "--count",
        "a2",
        "--pheno",
        str(DATA / "pheno_10_causals.txt"),
        "--covar",
        str(DATA / "cov.txt"),
        "--test",
        "f",
        "--loco" if loco else "--no-loco",
        "--out",
        str(out),
        "--quiet",
    ]
    if kinmix_main(args) != 0:
        raise SystemExit("kinmix scan failed")
    return pd.read_parquet(out / "results.parquet")


def compare(peer: pd.DataFrame, mine: pd.DataFrame) -> float:
    """Largest relative difference of −log10 p over the variants, matched by ID."""
    merged = peer.merge(mine, left_on="SNP", right_on="variant", how="outer", indicator=True)
    if (merged["_merge"] != "both").any():
        raise SystemExit("the two tables list different variants")
    theirs = -np.log10(merged["PValue"].to_numpy())
    ours = -np.log10(merged["pvalue"].to_numpy())
    return float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-300)))


def main() -> int:
    peer_python = os.environ.get("PEER_PY")
    if not peer_python:
        print("PEER_PY is not set: source ../shared/tools/peer-env.sh first", file=sys.stderr)
        return 2
    worst = 0.0
    with tempfile.TemporaryDirectory() as scratch:
        for loco in (False, True):
            folder = Path(scratch) / ("loco" if loco else "one-kinship")
            peer = fastlmm(peer_python, loco, Path(scratch) / f"fastlmm-{int(loco)}.tsv")
            mine = kinmix(loco, folder)
            difference = compare(peer, mine)
            worst = max(worst, difference)
            mode = "LOCO" if loco else "no LOCO"
            print(
                f"{mode:8s}: {len(mine)} variants, FaST-LMM null h2 "
                f"{sorted(peer['Nullh2'].unique().round(6).tolist())}; max relative "
                f"difference in -log10 p = {difference:.3g} (tolerance {TOLERANCE:g})"
            )
    ok = worst <= TOLERANCE
    print("agreement" if ok else "DISAGREEMENT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
