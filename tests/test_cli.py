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


def test_demo__input_errors_become_a_message_and_exit_code_2(tmp_path, capsys, monkeypatch):
    from kinmix import InputError

    def broken(*args, **kwargs):
        raise InputError("PLINK file all.bed does not exist.")

    monkeypatch.setattr("kinmix.io.plink.read_plink", broken)
    assert main(["demo", "--out", str(tmp_path)]) == 2
    assert "kinmix: error: PLINK file all.bed does not exist." in capsys.readouterr().err
    assert not (tmp_path / "results.tsv").exists()


def test_loco_scan__needs_two_chromosomes():
    from types import SimpleNamespace

    import pytest

    from kinmix import InputError
    from kinmix.workflow import loco_scan

    genotypes = SimpleNamespace(
        variants=pd.DataFrame({"chrom": ["1", "1"], "variant": ["a", "b"]})
    )
    with pytest.raises(InputError, match="LOCO needs variants on at least two chromosomes"):
        loco_scan(genotypes, np.zeros(3), np.ones((3, 1)))
