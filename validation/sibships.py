"""The related cohort that the GEMMA comparisons share, its PLINK files and the peers' runner.

Used by ``validation/gemma_exact.py`` and ``benchmarks/exact.py`` (which puts this folder
on ``sys.path``): both draw the cohort with :func:`simulate_sibships`, write it with
:func:`write_cohort` and run GEMMA (or JAMMA) through :func:`run`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np


def simulate_sibships(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Sibships of 4 from two populations: dosages, a trait with h² ≈ 0.5, two covariates.

    Each variant has an ancestral frequency :math:`U(0.08, 0.5)`, shifted by
    :math:`N(0, 0.03^2)` in each population (families alternate between the two); the
    parents' haplotypes are Bernoulli draws and each child takes one haplotype of each
    parent at random, variant by variant. The trait is
    :math:`1 + c_1 0.3 - c_2 0.2 + g + e` with :math:`g` the (rescaled, variance 0.5)
    effect of 50 causal variants, :math:`e \sim N(0, 0.5)`, :math:`c_1` normal and
    :math:`c_2` binary.

    Returns ``(G, y, covariates)`` with ``4 * (n // 4)`` rows (whole sibships).
    """
    rng = np.random.default_rng(seed)
    nfam = n // 4
    ancestral = rng.uniform(0.08, 0.5, m)
    freqs = np.clip(ancestral + rng.normal(0, 0.03, (2, m)), 0.05, 0.95)
    parents = rng.random((nfam, 2, 2, m)) < freqs[np.arange(nfam) % 2][:, None, None, :]
    which = rng.random((nfam, 4, 2, m)) < 0.5
    alleles = np.where(which, parents[:, None, :, 1], parents[:, None, :, 0])
    G = alleles.sum(axis=2).reshape(nfam * 4, m).astype(np.float64)
    causal = rng.choice(m, 50, replace=False)
    Z = G[:, causal] - G[:, causal].mean(0)
    genetic = Z @ rng.normal(size=50)
    genetic *= np.sqrt(0.5 / genetic.var())
    covariates = np.column_stack([rng.normal(size=G.shape[0]), rng.binomial(1, 0.5, G.shape[0])])
    y = 1.0 + covariates @ [0.3, -0.2] + genetic + rng.normal(0, np.sqrt(0.5), G.shape[0])
    return G, y, covariates


def write_cohort(
    folder: Path, G: np.ndarray, y: np.ndarray, X: np.ndarray, chromosomes: list[str]
) -> tuple[list[str], list[str]]:
    """Write ``folder/cohort.bed/.bim/.fam`` (trait in the .fam, allele A counted) and
    ``folder/covar.txt`` (the design ``X``, GEMMA's ``-c`` file).

    Samples are named ``s0, s1, ...`` and variants ``v0, v1, ...`` at 100 bp spacing;
    returns the two lists of names.
    """
    from bed_reader import to_bed

    n, m = G.shape
    ids = [f"s{i}" for i in range(n)]
    variants = [f"v{j}" for j in range(m)]
    to_bed(
        folder / "cohort.bed",
        G.astype(np.float32),
        properties={
            "fid": ids,
            "iid": ids,
            "sid": variants,
            "chromosome": chromosomes,
            "bp_position": np.arange(1, m + 1) * 100,
            "allele_1": ["A"] * m,
            "allele_2": ["G"] * m,
            "pheno": y,
        },
        count_A1=True,
    )
    np.savetxt(folder / "covar.txt", X, fmt="%.10g")
    return ids, variants


def run(cmd: list[str], cwd: Path) -> None:
    """Run a peer's command in ``cwd``; exit with its output's tail if it fails."""
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
