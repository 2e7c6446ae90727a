"""``kinmix scan --method``: the matrix-free route of the file workflow against the exact one."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kinmix.cli import main
from kinmix.simulate import simulate_cohort, write_cohort


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("method")
    cohort = simulate_cohort(samples=500, variants=1500, chromosomes=3, seed=9, h2=0.6,
                             causal=30, populations=1)
    return write_cohort(cohort, folder / "cohort")


def _scan(files, out, *extra):
    args = ["scan", "--bfile", str(files["bfile"]), "--pheno", str(files["pheno"]),
            "--pheno-name", "continuous", "--covar", str(files["covar"]), "--covar-name",
            "age,sex", "--out", str(out), "--quiet", *extra]
    return main(args)


@pytest.fixture(scope="module")
def exact_and_cg(files, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    assert _scan(files, root / "exact", "--method", "exact") == 0
    assert _scan(files, root / "cg", "--method", "cg") == 0
    assert _scan(files, root / "auto", "--method", "auto") == 0
    return root


def test_method_cg__agrees_with_exact_end_to_end(exact_and_cg):
    exact = pd.read_parquet(exact_and_cg / "exact" / "results.parquet")
    cg = pd.read_parquet(exact_and_cg / "cg" / "results.parquet")
    assert cg[["chrom", "pos", "variant"]].equals(exact[["chrom", "pos", "variant"]])
    assert set(cg["denominator"].dropna()) <= {"calibrated", "exact"}
    assert (cg["pvalue"].isna() == exact["pvalue"].isna()).all()
    dlogp = np.abs(np.log10(cg["pvalue"]) - np.log10(exact["pvalue"]))
    assert np.nanmax(dlogp) <= 0.25
    summary = json.loads((exact_and_cg / "cg" / "summary.json").read_text())
    assert summary["kinship"]["method"] == "cg" and summary["options"]["method"] == "cg"
    reference = json.loads((exact_and_cg / "exact" / "summary.json").read_text())
    rows = {r["chrom"]: r for r in summary["heritability"]["continuous"]["per_kinship"]}
    exact_rows = {r["chrom"]: r for r in reference["heritability"]["continuous"]["per_kinship"]}
    assert set(rows) == set(exact_rows) == {"1", "2", "3"}
    for chrom, theirs in exact_rows.items():
        assert abs(rows[chrom]["h2"] - theirs["h2"]) <= 0.5 * theirs["h2_se"]


def test_method_auto__below_the_threshold_is_exact(exact_and_cg):
    exact = pd.read_parquet(exact_and_cg / "exact" / "results.parquet")
    auto = pd.read_parquet(exact_and_cg / "auto" / "results.parquet")
    assert "denominator" not in auto.columns
    np.testing.assert_allclose(auto["chi2"], exact["chi2"], rtol=1e-12)


def test_method_cg__refuses_what_it_does_not_compute(files, tmp_path, capsys):
    assert _scan(files, tmp_path / "out", "--method", "cg", "--test", "wald") == 2
    err = capsys.readouterr().err
    assert "--method cg computes LOCO likelihood-ratio tests" in err
    assert "drop --test other than lrt" in err
