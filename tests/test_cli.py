"""The ``kinmix`` command: outputs of scan/h2/grm/simulate/demo, exit codes, error messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kinmix.cli import main
from tests.reliability.test_cli_catalogue import fails_cleanly, nothing_finished

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _png_shape(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    from tests.workflow.conftest import write_small_cohort

    return write_small_cohort(tmp_path_factory.mktemp("cli"))


def test_demo__writes_table_summary_plots_and_log(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--top", "3"]) == 0
    err = capsys.readouterr().err
    assert "h2 (REML) phenotype_1" in err and "results written to" in err
    results = pd.read_parquet(out / "results.parquet")
    assert len(results) == 5000
    assert list(results.columns[:5]) == ["chrom", "pos", "variant", "a1", "a2"]
    same = pd.read_csv(out / "results.tsv.gz", sep="\t")
    np.testing.assert_allclose(same["pvalue"], results["pvalue"], rtol=1e-5)
    summary = json.loads((out / "summary.json").read_text())
    assert 0.95 < summary["lambda_gc"]["phenotype_1"] < 1.1
    assert summary["samples"]["kept"] == 500
    assert {i["path"].rsplit(".", 1)[-1] for i in summary["inputs"]} >= {"bed", "bim", "fam"}
    assert all("size" in entry for entry in summary["inputs"])
    assert set(summary["timings"]) >= {"read", "kinship", "scan", "write"}
    assert {"eigh", "tridiagonal"} & set(summary["timings"])  # the kinship's decomposition
    assert 0.3 < summary["heritability"]["phenotype_1"]["h2"] < 0.8
    top = results.nsmallest(3, "pvalue")
    assert (top["pvalue"] < 1e-10).all() and set(top["chrom"]) <= {"3", "5"}
    for name in ("manhattan.png", "qq.png"):
        width, height = _png_shape(out / name)
        assert 400 <= width <= 4000 and 300 <= height <= 3000
    assert "kinship" in (out / "kinmix.log").read_text()
    assert not list(out.glob(".kinmix-*"))


@pytest.mark.parametrize("command", ["scan", "h2", "grm", "simulate", "demo"])
def test_every_subcommand_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert f"kinmix {command}" in capsys.readouterr().out.split("example:")[1]


@pytest.mark.filterwarnings("ignore::kinmix.BoundaryWarning")  # trait b: h2 -> 1 on 61 samples
def test_scan__two_traits_f_test_without_loco(cohort, tmp_path, capsys):
    out = tmp_path / "scan"
    args = [
        "scan",
        "--bfile",
        str(cohort.prefix),
        "--pheno",
        str(cohort.pheno_path),
        "--pheno-name",
        "a,b",
        "--covar",
        str(cohort.covar_path),
        "--covar-name",
        "age",
        "--no-loco",
        "--test",
        "f",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(args) == 0
    table = pd.read_parquet(out / "results.parquet")
    assert table["trait"].tolist()[:2] == ["a", "b"] and len(table) == 240
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["lambda_gc"]) == {"a", "b"}
    assert summary["samples"]["traits"] == {"a": 70, "b": 61}
    assert summary["options"]["test"] == "f" and summary["options"]["loco"] is False


@pytest.mark.parametrize("bgen", ["tiny12.bgen", "tiny13.bgen"])
def test_scan__bgen_input_equals_the_plink_input_on_the_same_dosages(bgen, tmp_path):
    pytest.importorskip("cbgen")
    from kinmix.io import open_genotypes

    data = Path(__file__).resolve().parent / "io" / "data"
    plink = open_genotypes(bfile=data / "tiny")
    # the BGEN files are plink2's 8-bit exports of tiny.bed: hard calls, stored exactly
    same = open_genotypes(bgen=data / bgen, sample=data / "tiny.sample").read()
    np.testing.assert_array_equal(same, plink.read())
    rng = np.random.default_rng(7)
    G = np.nan_to_num(plink.read(), nan=1.0)
    pheno = plink.samples.rename(columns={"fid": "FID", "iid": "IID"})
    pheno["y"] = G[:, [3, 25]] @ [0.8, -0.6] + rng.normal(size=len(pheno))
    pheno.to_csv(tmp_path / "pheno.tsv", sep="\t", index=False)
    common = ["--pheno", str(tmp_path / "pheno.tsv"), "--test", "wald", "--quiet"]
    assert main(["scan", "--bfile", str(data / "tiny"), *common,
                 "--out", str(tmp_path / "plink")]) == 0
    assert main(["scan", "--bgen", str(data / bgen), "--sample", str(data / "tiny.sample"),
                 *common, "--out", str(tmp_path / "bgen")]) == 0
    expected = pd.read_parquet(tmp_path / "plink" / "results.parquet")
    table = pd.read_parquet(tmp_path / "bgen" / "results.parquet")
    assert list(table.columns) == list(expected.columns) and len(table) == 40
    for column in table.columns:
        if table[column].dtype.kind == "f":
            np.testing.assert_allclose(table[column], expected[column], rtol=1e-8, atol=1e-12)
        else:
            assert table[column].tolist() == expected[column].tolist(), column
    assert table["pvalue"].min() < 1e-3  # the two causal variants are found by both
    summary = json.loads((tmp_path / "bgen" / "summary.json").read_text())
    assert summary["kinship"]["per_chromosome"] == {"1": 20, "2": 20}


@pytest.mark.parametrize("joint", ["any", "common"])
def test_scan__joint_multi_trait_test_equals_joint_scan(cohort, tmp_path, joint):
    from kinmix.grm import grm
    from kinmix.linalg import economic_qs
    from kinmix.lmm import joint_scan

    out = tmp_path / "joint"
    args = ["scan", "--bfile", str(cohort.prefix), "--pheno", str(cohort.pheno_path)]
    args += ["--pheno-name", "a,b", "--covar", str(cohort.covar_path), "--covar-name", "age"]
    args += ["--no-loco", "--joint", joint, "--out", str(out), "--quiet"]
    assert main(args) == 0
    table = pd.read_parquet(out / "results.parquet")
    assert len(table) == 120 and "trait" not in table.columns
    assert {"chi2", "dof", "pvalue", "beta_a", "beta_b", "se_a", "se_b"} <= set(table.columns)
    # by hand: the samples observing both traits, the kinship of every variant
    both = cohort.phenotypes[["a", "b"]].notna().all(axis=1).to_numpy()
    G = cohort.dosages[both]
    G = np.where(np.isnan(G), np.nanmean(G, axis=0), G)
    X = np.column_stack([np.ones(both.sum()), cohort.covariates["age"].to_numpy()[both]])
    QS = economic_qs(grm(cohort.dosages)[np.ix_(both, both)])
    by_hand = joint_scan(G, cohort.phenotypes.loc[both, ["a", "b"]], X, QS, test=joint)
    # both fit the null covariances to L-BFGS-B's tolerance from slightly different rounding
    for column in ["chi2", "pvalue", "beta_a", "se_b"]:
        np.testing.assert_allclose(table[column], by_hand[column], rtol=1e-4, atol=1e-8)
    assert (table["dof"] == (2 if joint == "any" else 1)).all()
    observed = (~np.isnan(cohort.dosages[both])).sum(axis=0)  # n: observed dosages
    np.testing.assert_array_equal(table["n"], observed)


def test_h2__reports_gemmas_pve_and_its_se(cohort, tmp_path):
    from scipy import linalg

    from kinmix.grm import grm

    out = tmp_path / "h2"
    args = [
        "h2",
        "--bfile",
        str(cohort.prefix),
        "--pheno",
        str(cohort.pheno_path),
        "--pheno-name",
        "a",
        "--covar",
        str(cohort.covar_path),
        "--grm-kind",
        "centered",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(args) == 0
    report = json.loads((out / "h2.json").read_text())["heritability"][0]
    _png_shape(out / "h2_profile.png")
    # dense oracle: REML log-likelihood in lambda, second derivative by central differences
    K = grm(cohort.dosages, kind="centered")
    y = cohort.phenotypes["a"].to_numpy()
    X = np.column_stack([np.ones(70), cohort.covariates.to_numpy()])
    n, c = X.shape

    def reml(lam):
        H = lam * K + np.eye(n)
        Hi = np.linalg.inv(H)
        A = X.T @ Hi @ X
        P = Hi - Hi @ X @ np.linalg.solve(A, X.T @ Hi)
        return -0.5 * (
            np.linalg.slogdet(H)[1] + np.linalg.slogdet(A)[1] + (n - c) * np.log(y @ P @ y)
        )

    lam = report["vg"] / report["ve"]
    h = 1e-3 * lam
    second = (reml(lam + h) - 2 * reml(lam) + reml(lam - h)) / h**2
    trace_g = np.trace(K) / n
    np.testing.assert_allclose(report["trace_g"], trace_g, rtol=1e-12)
    np.testing.assert_allclose(report["pve"], trace_g * lam / (trace_g * lam + 1), rtol=1e-12)
    expected_se = trace_g / (trace_g * lam + 1) ** 2 * np.sqrt(-1 / second)
    np.testing.assert_allclose(report["pve_se"], expected_se, rtol=1e-4)
    # the REML optimum: the slope of the dense REML vanishes there
    slope = (reml(lam + h) - reml(lam - h)) / (2 * h)
    assert abs(slope) < 1e-4 * abs(second) * lam
    assert linalg.norm(K - K.T) == 0


def test_grm_and_simulate_write_their_files(cohort, tmp_path):
    from kinmix.grm import grm
    from kinmix.io.kinship import read_kinship

    target = tmp_path / "kin.npz"
    assert main(["grm", "--bfile", str(cohort.prefix), "--out", str(target), "--quiet"]) == 0
    kinship = read_kinship(target)
    np.testing.assert_allclose(kinship.matrix, grm(cohort.dosages), atol=1e-12)
    assert kinship.n_variants == 120
    prefix = tmp_path / "sim" / "cohort"
    args = [
        "simulate",
        "--out",
        str(prefix),
        "--samples",
        "40",
        "--variants",
        "60",
        "--chromosomes",
        "2",
        "--seed",
        "3",
        "--quiet",
    ]
    assert main(args) == 0
    for suffix in (".bed", ".bim", ".fam", ".pheno.tsv", ".covar.tsv"):
        assert Path(str(prefix) + suffix).is_file()


# -- failures: exit codes, what is left in --out (bad inputs: tests/reliability)
def _scan_args(cohort, out, **overrides):
    args = {
        "--bfile": str(cohort.prefix),
        "--pheno": str(cohort.pheno_path),
        "--pheno-name": "a",
        "--out": str(out),
    }
    args.update(overrides)
    flat = ["scan"]
    for key, value in args.items():
        if value is None:
            continue
        flat += [key] if value is True else [key, value]
    return flat


def test_precomputed_kinship_defaults_to_no_loco(cohort, tmp_path):
    target = tmp_path / "kin.npz"
    assert main(["grm", "--bfile", str(cohort.prefix), "--out", str(target), "--quiet"]) == 0
    out = tmp_path / "out"
    assert main(_scan_args(cohort, out, **{"--grm": str(target), "--quiet": True})) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["options"]["loco"] is False


def test_a_failed_rerun_leaves_no_previous_results(cohort, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_scan_args(cohort, out, **{"--no-loco": True, "--quiet": True})) == 0
    assert (out / "results.parquet").exists()
    fails_cleanly(_scan_args(cohort, out, **{"--pheno-name": "nope"}), out, capsys, "nope")


def test_internal_errors_exit_1_without_results(cohort, tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("kinmix.workflow.scan_files", broken)
    out = tmp_path / "out"
    assert main(_scan_args(cohort, out)) == 1
    err = capsys.readouterr().err
    assert "kinmix: internal error: RuntimeError: boom" in err and "Traceback" not in err
    nothing_finished(out)
    assert "Traceback" in (out / "kinmix.log").read_text()


def test_h2_with_a_kinship_file_or_another_genotype_file(cohort, tmp_path):
    target = tmp_path / "kin.npz"
    assert main(["grm", "--bfile", str(cohort.prefix), "--out", str(target), "--quiet"]) == 0
    reports = []
    for extra in (["--grm", str(target)], ["--grm-bfile", str(cohort.prefix)], []):
        out = tmp_path / f"h2-{len(reports)}"
        args = [
            "h2",
            "--bfile",
            str(cohort.prefix),
            "--pheno",
            str(cohort.pheno_path),
            "--pheno-name",
            "a",
            "--out",
            str(out),
            "--quiet",
            *extra,
        ]
        assert main(args) == 0
        reports.append(json.loads((out / "h2.json").read_text())["heritability"][0])
    for report in reports[:2]:
        np.testing.assert_allclose(report["h2"], reports[2]["h2"], rtol=1e-8)
        np.testing.assert_allclose(report["pve_se"], reports[2]["pve_se"], rtol=1e-6)


def test_scan__plots_run_after_the_variants_table_is_released(cohort, tmp_path, monkeypatch):
    import gc
    import weakref

    import kinmix.plot
    import kinmix.workflow

    scan_files, manhattan = kinmix.workflow.scan_files, kinmix.plot.manhattan
    tables, alive = [], []

    def recording_scan(*args, **kwargs):
        result = scan_files(*args, **kwargs)
        tables.append(weakref.ref(result.results.variants))
        return result

    def checking_manhattan(*args, **kwargs):
        gc.collect()
        alive.append(tables[0]() is not None)
        return manhattan(*args, **kwargs)

    monkeypatch.setattr(kinmix.workflow, "scan_files", recording_scan)
    monkeypatch.setattr(kinmix.plot, "manhattan", checking_manhattan)
    out = tmp_path / "released"
    assert main(_scan_args(cohort, out)) == 0
    assert alive == [False]  # the plots hold only the digest, not the m-row variants table
    assert len(pd.read_parquet(out / "results.parquet")) == cohort.dosages.shape[1]
