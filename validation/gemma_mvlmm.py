"""Null multi-trait LMM estimates of kinmix's Kron2Sum against GEMMA 0.98.5's mvLMM.

    python validation/gemma_mvlmm.py [--n 500] [--traits 3] [--seed 1]

A cohort is simulated (n samples, p traits, a full-rank kinship K = ZZᵀ from 2n
population-standardised genotypes, an intercept and one covariate) and written as PLINK
files with bed-reader's ``to_bed`` (the p phenotypes as .fam columns 6, 7, ...), the
kinship and covariates as text. GEMMA is run as

    gemma -bfile d -k kinship.txt -c covariates.txt -lmm 4 -n 1 2 ... p

and its printed null estimates (REMLE and MLE ``Vg``, ``Ve``, 4 decimals) are read from
its standard output. kinmix fits ``Kron2Sum(Y, I, X, Z, rank=p)`` by REML and by ML.

Checks (exit status 1 if any fails):

GEMMA is run twice: with its defaults and with tight null tolerances (``TIGHT``).

1. REML: every entry of kinmix's C₀, C₁ agrees with GEMMA's Vg, Ve to its last printed
   digit (|difference| ≤ 1e-4) -- unless GEMMA demonstrably stopped short: its printed
   point has a lower REML log-likelihood than kinmix's optimum rounded to 4 decimals.
2. REML: kinmix's restricted log-likelihood is at least its value at GEMMA's estimates.
3. ML: kinmix's log-likelihood is at least the ML log-likelihood at GEMMA's MLE estimates
   (and, for information, at GEMMA's REMLE estimates).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from bed_reader import to_bed

from kinmix.lmm import Kron2Sum


def simulate_traits(
    n: int, p: int, m: int, rng: np.random.Generator, *, genetic: float, noise: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""p correlated traits on the kinship of m population-standardised genotypes.

    :math:`Z_{ij} = (g_{ij} - 2f_j)/\sqrt{2f_j(1-f_j)m}` with :math:`g_{ij} \sim
    \mathrm{Bin}(2, f_j)`, :math:`f_j \sim U(0.05, 0.5)`; covariates X = [1, N(0, 1)];
    :math:`Y = XB + ZUL_0^\top + EL_1^\top` with :math:`B, U, E` standard normal,
    :math:`L_0` normal times ``genetic`` and :math:`L_1` lower triangular, normal times
    ``noise`` plus the identity. Returns ``(Y, X, Z)``; shared with
    ``benchmarks/kron2sum.py``.
    """
    freq = rng.uniform(0.05, 0.5, size=m)
    Z = rng.binomial(2, freq, size=(n, m)).astype(float)
    Z = (Z - 2 * freq) / np.sqrt(2 * freq * (1 - freq) * m)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    L0 = rng.normal(size=(p, p)) * genetic
    L1 = np.tril(rng.normal(size=(p, p)) * noise) + np.eye(p)
    Y = X @ rng.normal(size=(2, p)) + Z @ rng.normal(size=(m, p)) @ L0.T
    Y += rng.normal(size=(n, p)) @ L1.T
    return Y, X, Z


def simulate(n: int, p: int, seed: int):
    """Traits with genetic and residual trait correlations on a full-rank kinship."""
    rng = np.random.default_rng(seed)
    Y, X, Z = simulate_traits(n, p, 2 * n, rng, genetic=0.7, noise=0.4)
    snps = rng.binomial(2, 0.3, size=(n, 5)).astype(float)  # GEMMA needs some variants
    return Y, X, Z, snps


def write_inputs(folder: Path, Y, X, Z, snps) -> None:
    n = Y.shape[0]
    ids = [f"i{i}" for i in range(n)]
    to_bed(
        folder / "d.bed",
        snps,
        properties={
            "fid": ids,
            "iid": ids,
            "sid": [f"s{j}" for j in range(snps.shape[1])],
            "chromosome": ["1"] * snps.shape[1],
            "bp_position": list(range(1, snps.shape[1] + 1)),
        },
    )
    with open(folder / "d.fam", "w") as fam:  # phenotypes as columns 6, 7, ...
        for i, row in enumerate(Y):
            fam.write(f"{ids[i]} {ids[i]} 0 0 0 " + " ".join(f"{v:.12g}" for v in row) + "\n")
    np.savetxt(folder / "kinship.txt", Z @ Z.T, fmt="%.15g", delimiter="\t")
    np.savetxt(folder / "covariates.txt", X, fmt="%.15g", delimiter="\t")


def read_matrix(text: str, label: str, p: int) -> np.ndarray:
    """The lower-triangular matrix GEMMA prints after ``label``."""
    start = re.search(rf"^{re.escape(label)}", text, flags=re.MULTILINE).end()
    lines = text[start:].strip().splitlines()[:p]
    matrix = np.zeros((p, p))
    for i, line in enumerate(lines):
        for j, value in enumerate(line.split()):
            matrix[i, j] = matrix[j, i] = float(value)
    return matrix


def run_gemma(folder: Path, p: int, options: list[str]) -> dict[str, np.ndarray]:
    command = [
        "gemma",
        "-bfile",
        "d",
        "-k",
        "kinship.txt",
        "-c",
        "covariates.txt",
        "-lmm",
        "4",
        "-n",
        *[str(j + 1) for j in range(p)],
        "-outdir",
        "out",
        "-o",
        "res",
        *options,
    ]
    done = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    text = done.stdout + done.stderr
    if done.returncode != 0 or "REMLE estimate for Vg" not in text:
        sys.exit(f"gemma failed (exit {done.returncode}):\n{text}")
    estimates = {
        f"{kind}_{name}": read_matrix(text, f"{kind} estimate for {name} in the null model:", p)
        for kind in ("REMLE", "MLE")
        for name in ("Vg", "Ve")
    }
    for kind in ("REMLE", "MLE"):
        found = re.search(rf"^{kind} likelihood = (\S+)", text, flags=re.MULTILINE)
        estimates[f"{kind}_lml"] = float(found[1])
    return estimates


TIGHT = ["-emp", "1e-10", "-nrp", "1e-10", "-emi", "100000", "-nri", "1000"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--traits", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("gemma") is None:
        sys.exit("gemma is not on PATH (Debian package gemma).")
    n, p = args.n, args.traits
    Y, X, Z, snps = simulate(n, p, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        write_inputs(Path(tmp), Y, X, Z, snps)
        runs = {"default": run_gemma(Path(tmp), p, []), "tight": run_gemma(Path(tmp), p, TIGHT)}

    np.set_printoptions(precision=5, suppress=True)
    print(f"cohort: n = {n}, p = {p}, full-rank kinship, seed {args.seed}")
    print(f"GEMMA 'tight' = {' '.join(TIGHT)} (defaults: -emp 1e-4 -nrp 1e-4 -nri 100)")

    def model(restricted: bool, C0=None, C1=None) -> Kron2Sum:
        built = Kron2Sum(Y, np.eye(p), X, Z, rank=p, restricted=restricted)
        if C0 is not None:
            built.set_covariances(C0, C1)
        return built

    ok = True
    reml = model(True)
    reml_fit = reml.fit()
    print(
        f"REML kinmix lml {reml.lml():.6f} (best start {reml_fit.best}, largest gradient "
        f"entry {reml_fit.gradient_norm:.1e})\nC0 =\n{reml.C0}\nC1 =\n{reml.C1}"
    )
    # the REML lml at kinmix's optimum rounded to GEMMA's 4 printed decimals: a printed
    # point below it is not the rounded optimum, so GEMMA stopped short there
    rounded = model(True, np.round(reml.C0, 4), np.round(reml.C1, 4)).lml()
    print(f"REML lml at kinmix's estimates rounded to 4 decimals {rounded:.6f}")
    for name, gemma in runs.items():
        Vg, Ve = gemma["REMLE_Vg"], gemma["REMLE_Ve"]
        diff = max(np.abs(reml.C0 - Vg).max(), np.abs(reml.C1 - Ve).max())
        at = model(True, Vg, Ve).lml()
        short = at < rounded - 1e-6
        verdict = (
            "agree to the printed digits"
            if diff <= 1e-4
            else ("GEMMA stopped short of the optimum" if short else "DISAGREE")
        )
        print(
            f"REML GEMMA {name}: max |C - V| = {diff:.1e}; REML lml at GEMMA's estimates "
            f"{at:.6f} (kinmix higher by {reml.lml() - at:.2e}; GEMMA prints "
            f"{gemma['REMLE_lml']}): {verdict}"
        )
        ok &= reml.lml() >= at - 1e-6 and (diff <= 1e-4 or short)

    ml = model(False)
    ml_fit = ml.fit()
    print(
        f"ML   kinmix lml {ml.lml():.6f} (best start {ml_fit.best}, largest gradient entry "
        f"{ml_fit.gradient_norm:.1e})\nC0 =\n{ml.C0}\nC1 =\n{ml.C1}"
    )
    for name, gemma in runs.items():
        diff = max(np.abs(ml.C0 - gemma["MLE_Vg"]).max(), np.abs(ml.C1 - gemma["MLE_Ve"]).max())
        at_mle = model(False, gemma["MLE_Vg"], gemma["MLE_Ve"]).lml()
        at_remle = model(False, gemma["REMLE_Vg"], gemma["REMLE_Ve"]).lml()
        print(
            f"ML   GEMMA {name}: max |C - V| = {diff:.1e}; ML lml at GEMMA's MLE "
            f"{at_mle:.6f} (kinmix higher by {ml.lml() - at_mle:.2e}; GEMMA prints "
            f"{gemma['MLE_lml']}), at GEMMA's REMLE {at_remle:.6f}"
        )
        ok &= ml.lml() >= at_mle - 1e-6
    print("agreement" if ok else "DISAGREEMENT")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
