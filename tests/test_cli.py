"""The ``kinmix demo`` job on the bundled cohort."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kinmix.cli import main


def test_demo__writes_a_complete_calibrated_table_and_finds_the_causal_signal(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--top", "3"]) == 0
    printed = capsys.readouterr().out
    assert "heritability (REML): h2 = 0.589" in printed
    results = pd.read_csv(tmp_path / "results.tsv", sep="\t")
    assert len(results) == 5000 and not list(tmp_path.glob(".*.tmp"))
    assert list(results.columns[:5]) == ["chrom", "pos", "variant", "a1", "a2"]
    lambda_gc = np.median(results["chi2"]) / 0.454936423119572
    assert 0.95 < lambda_gc < 1.1
    top = results.nsmallest(3, "pvalue")
    assert (top["pvalue"] < 1e-10).all() and set(top["chrom"]) <= {3, 5}
