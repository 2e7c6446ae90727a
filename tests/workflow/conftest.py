"""A small PLINK cohort on three chromosomes, with phenotype and covariate tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@dataclass(frozen=True)
class SmallCohort:
    prefix: Path
    dosages: np.ndarray  # n × m, counting the .bim's a1, NaN missing
    chrom: np.ndarray
    phenotypes: pd.DataFrame  # index iid; columns a, b (b has NaN)
    covariates: pd.DataFrame  # index iid; column age, env
    pheno_path: Path
    covar_path: Path


def write_small_cohort(folder: Path, *, n: int = 70, per_chrom: int = 40, seed: int = 0):
    from bed_reader import to_bed

    rng = np.random.default_rng(seed)
    m = 3 * per_chrom
    freq = rng.uniform(0.1, 0.5, m)
    G = rng.binomial(2, freq, size=(n, m)).astype(float)
    G[rng.random((n, m)) < 0.01] = np.nan
    chrom = np.repeat(["1", "2", "3"], per_chrom)
    iid = [f"s{i}" for i in range(n)]
    prefix = folder / "cohort"
    to_bed(
        prefix.with_suffix(".bed"),
        G.astype(np.float32),
        properties={
            "fid": iid,
            "iid": iid,
            "chromosome": chrom,
            "sid": [f"rs{j}" for j in range(m)],
            "bp_position": np.arange(1, m + 1) * 100,
            "allele_1": ["A"] * m,
            "allele_2": ["G"] * m,
        },
    )
    filled = np.where(np.isnan(G), np.nanmean(G, axis=0), G)
    genetic = (filled - filled.mean(0)) @ rng.normal(0, 0.15, m)
    age = rng.normal(50, 10, n)
    env = rng.normal(0, 1, n)
    a = 0.02 * age + genetic + rng.normal(0, 1, n) + 0.8 * filled[:, 5]
    b = genetic + rng.normal(0, 1, n)
    b[rng.choice(n, 9, replace=False)] = np.nan
    phenotypes = pd.DataFrame({"a": a, "b": b}, index=pd.Index(iid, name="iid"))
    covariates = pd.DataFrame({"age": age, "env": env}, index=pd.Index(iid, name="iid"))
    pheno_path, covar_path = folder / "pheno.tsv", folder / "covar.tsv"
    for frame, path in ((phenotypes, pheno_path), (covariates, covar_path)):
        out = frame.reset_index()
        out.insert(0, "FID", out["iid"])
        out = out.rename(columns={"iid": "IID"})
        out.to_csv(path, sep="\t", index=False, na_rep="NA")
    return SmallCohort(prefix, G, chrom, phenotypes, covariates, pheno_path, covar_path)


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory) -> SmallCohort:
    return write_small_cohort(tmp_path_factory.mktemp("cohort"))
