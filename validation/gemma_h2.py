"""kinmix h2 against GEMMA 0.98.5: null REML vg, ve, pve and se(pve) with the centred kinship.

Command (from the repository root)::

    .venv/bin/python validation/gemma_h2.py

A ``kinmix simulate`` cohort (600 samples, 3,000 variants on 3 chromosomes; the samples with
a missing ``continuous`` trait left out, so both tools see the same samples) is written as
PLINK files with the trait in the ``.fam``. GEMMA builds its centred kinship
(``gemma -gk 1``: mean-imputed, centred dosages, K = WWᵀ/m over variants with MAF ≥ 0.01 and
at most 5 % missing) and fits the null model (``gemma -lmm 1`` with covariates intercept,
age, sex), whose log prints vg, ve, pve and se(pve). ``kinmix h2 --grm-kind centered
--maf 0.01 --max-missing 0.05`` fits the same model. The script prints both kinships' largest
difference and each estimate side by side, and exits 1 unless every kinmix estimate rounds
to GEMMA's printed digits (one unit of the last printed digit allowed).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import numpy as np

from kinmix.cli import main as kinmix_main
from kinmix.grm import grm
from kinmix.simulate import simulate_cohort, write_cohort

SAMPLES, VARIANTS, CHROMOSOMES, SEED = 600, 3000, 3, 11
#: GEMMA's log lines and kinmix's names of the four estimates.
ESTIMATES = {"vg": "vg", "ve": "ve", "pve": "pve", "se(pve)": "pve_se"}


def write_inputs(folder: Path) -> Path:
    """The simulated cohort without the samples missing the trait, trait in the .fam."""
    cohort = simulate_cohort(
        samples=SAMPLES, variants=VARIANTS, chromosomes=CHROMOSOMES, seed=SEED
    )
    complete = cohort.phenotypes["continuous"].notna().to_numpy()
    kept = cohort.samples["iid"][complete].tolist()
    cohort = dataclasses.replace(
        cohort,
        dosages=cohort.dosages[complete],
        samples=cohort.samples[complete].reset_index(drop=True),
        phenotypes=cohort.phenotypes.loc[kept],
        covariates=cohort.covariates.loc[kept],
    )
    paths = write_cohort(cohort, folder / "cohort")
    fam = paths["fam"].read_text().splitlines()
    trait = cohort.phenotypes["continuous"].to_numpy()
    rows = [
        " ".join([*line.split()[:5], repr(float(v))]) for line, v in zip(fam, trait, strict=True)
    ]
    paths["fam"].write_text("\n".join(rows) + "\n")
    covariates = np.column_stack(
        [np.ones(len(kept)), cohort.covariates[["age", "sex"]].to_numpy(dtype=float)]
    )
    np.savetxt(folder / "gemma.covar.txt", covariates, fmt="%.17g")
    return paths["bfile"]


def gemma(prefix: Path, folder: Path) -> tuple[dict[str, str], np.ndarray]:
    """GEMMA's printed null estimates (as strings) and its centred kinship."""
    run = {"cwd": folder, "check": True, "capture_output": True, "text": True}
    subprocess.run(["gemma", "-bfile", str(prefix), "-gk", "1", "-o", "kin"], **run)
    subprocess.run(
        [
            "gemma",
            "-bfile",
            str(prefix),
            "-k",
            "output/kin.cXX.txt",
            "-c",
            "gemma.covar.txt",
            "-lmm",
            "1",
            "-o",
            "lmm",
        ],
        **run,
    )
    text = (folder / "output" / "lmm.log.txt").read_text()
    printed = {}
    for name in ESTIMATES:
        match = re.search(rf"## {re.escape(name)} (?:estimate )?in the null model = (\S+)", text)
        if match is None:
            raise SystemExit(f"GEMMA's log has no '{name}' line:\n{text}")
        printed[name] = match.group(1)
    return printed, np.loadtxt(folder / "output" / "kin.cXX.txt")


def kinmix(prefix: Path, folder: Path) -> dict[str, float]:
    """kinmix h2 with GEMMA's kinship definition and covariates."""
    out = folder / "kinmix-h2"
    args = [
        "h2",
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
        "--grm-kind",
        "centered",
        "--maf",
        "0.01",
        "--max-missing",
        "0.05",
        "--out",
        str(out),
        "--quiet",
    ]
    if kinmix_main(args) != 0:
        raise SystemExit("kinmix h2 failed")
    return json.loads((out / "h2.json").read_text())["heritability"][0]


def agrees(ours: float, printed: str) -> bool:
    """Whether ``ours`` is within one unit of the last digit GEMMA printed."""
    unit = Decimal(1).scaleb(Decimal(printed).as_tuple().exponent)
    return abs(Decimal(repr(ours)) - Decimal(printed)) <= unit


def main() -> int:
    if shutil.which("gemma") is None:
        print("gemma is not installed (Debian package gemma)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        prefix = write_inputs(folder)
        printed, gemma_kinship = gemma(prefix, folder)
        ours = kinmix(prefix, folder)
        from kinmix.io import open_genotypes

        dosages = open_genotypes(bfile=prefix).read()
        missing = np.isnan(dosages).mean(axis=0)
        frequency = np.nanmean(dosages, axis=0) / 2
        usable = (np.minimum(frequency, 1 - frequency) >= 0.01) & (missing <= 0.05)
        kinship_gap = np.abs(grm(dosages[:, usable], kind="centered") - gemma_kinship).max()
    print(f"centred kinship: max |kinmix - GEMMA| = {kinship_gap:.3g}")
    ok = True
    for name, key in ESTIMATES.items():
        same = agrees(ours[key], printed[name])
        ok &= same
        print(
            f"{name:8s} GEMMA {printed[name]:>12s}  kinmix {ours[key]:.10g}  "
            f"{'agree' if same else 'DIFFER'}"
        )
    print("agreement" if ok else "DISAGREEMENT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
