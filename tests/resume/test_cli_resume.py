"""``kinmix scan`` killed at each step resumes to the same table, bit for bit; changed
inputs and options are refused without --restart; a failing writer names the folder;
--workers 2 equals the in-process run, also when a worker dies."""

from __future__ import annotations

import errno
import json
import signal
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kinmix.checkpoint
import kinmix.workflow.output
from kinmix.checkpoint import CheckpointStore
from kinmix.cli import SCAN_OUTPUTS, main

from ._harness import run, run_killed, run_ok

#: ``kinmix scan`` in a child process; argv[1] is the seconds between batch commits.
RUN = (
    "import sys; import kinmix.checkpoint as c; c.COMMIT_SECONDS = float(sys.argv.pop(1)); "
    "from kinmix.cli import main; sys.exit(main(sys.argv[1:]))"
)
#: 3 chromosomes of 80 variants, blocks of 20: 12 blocks, 3 null states.
VARIANTS, BLOCK = 240, 20


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    from kinmix.simulate import simulate_cohort, write_cohort

    prefix = tmp_path_factory.mktemp("cohort") / "sim"
    write_cohort(simulate_cohort(samples=90, variants=VARIANTS, chromosomes=3, seed=2), prefix)
    return prefix


def _args(cohort: Path, out: Path, *extra: str) -> list[str]:
    return [
        "scan", "--bfile", str(cohort), "--pheno", f"{cohort}.pheno.tsv",
        "--pheno-name", "continuous", "--covar", f"{cohort}.covar.tsv",
        "--covar-name", "age", "--chunk-size", str(BLOCK), "--out", str(out), *extra,
    ]  # fmt: skip


def _argv(cohort: Path, out: Path, *extra: str, commit_seconds: float = 0.0) -> list[str]:
    """The child's argv; by default each block is committed as it is saved."""
    return [sys.executable, "-c", RUN, str(commit_seconds), *_args(cohort, out, *extra)]


def _finished(out: Path) -> list[str]:
    return [name for name in SCAN_OUTPUTS if (out / name).exists()]


@pytest.fixture(scope="module")
def uninterrupted(cohort, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plain") / "out"
    run_ok(_argv(cohort, out, "--quiet"))
    return out


@pytest.mark.parametrize("kill_at", ["kinship:3", "null:2", "block:5", "write:1"])
def test_scan__killed_then_rerun_gives_the_same_table(cohort, uninterrupted, tmp_path, kill_at):
    out = tmp_path / "out"
    run_killed(_argv(cohort, out, "--quiet"), kill_at)
    assert _finished(out) == []  # nothing finished-looking between the kill and the resume
    run_ok(_argv(cohort, out, "--quiet"))
    table = pd.read_parquet(out / "results.parquet")
    expected = pd.read_parquet(uninterrupted / "results.parquet")
    pd.testing.assert_frame_equal(table, expected, check_exact=True)
    same_file = (out / "results.parquet").read_bytes()
    assert same_file == (uninterrupted / "results.parquet").read_bytes()
    assert len(table) == VARIANTS and not table["variant"].duplicated().any()
    summary = json.loads((out / "summary.json").read_text())
    step, count = kill_at.split(":")
    reloaded = summary["steps"]["reloaded"]
    # killed inside the kinship pass, nothing was stored: the rerun starts afresh
    assert summary["resumed"] is (step != "kinship")
    assert reloaded.get("kinship", 0) == (step != "kinship")
    if step == "block":  # the null states of the chromosomes with blocks left are reloaded
        # 4 blocks per chromosome: 1 finished, 2 begun (its null reloaded, not refitted),
        # 3 not begun (its null computed)
        assert reloaded["block"] == int(count) and reloaded["null"] == 1
        assert summary["steps"]["computed"]["block"] == VARIANTS // BLOCK - int(count)
        assert summary["steps"]["computed"]["null"] == 1
    if step == "write":  # every step was stored: nothing is recomputed
        assert summary["steps"]["computed"] == {}
        assert reloaded["block"] == VARIANTS // BLOCK


@pytest.mark.parametrize("kill_at", ["block:5", "write:1"])
def test_scan__a_killed_batched_run_recomputes_only_the_waiting_blocks(
    cohort, uninterrupted, tmp_path, kill_at
):
    out = tmp_path / "out"
    argv = _argv(cohort, out, "--quiet", commit_seconds=1e9)  # blocks wait to the end
    run_killed(argv, kill_at)
    assert _finished(out) == []
    stored = [p.name for p in (out / ".kinmix").iterdir()]
    # killed mid-scan, every block was waiting; at the final write, all were committed
    # (one batch file per run: the flush after the scan)
    assert [s for s in stored if s.startswith(("block-", "batch-"))] == (
        [] if kill_at == "block:5" else ["batch-block-0000-0000000000.batch"]
    )
    run_ok(argv)
    assert (out / "results.parquet").read_bytes() == (
        uninterrupted / "results.parquet").read_bytes()
    steps = json.loads((out / "summary.json").read_text())["steps"]
    if kill_at == "block:5":
        assert "block" not in steps["reloaded"] and steps["computed"]["block"] == 12
    else:
        assert steps["computed"] == {} and steps["reloaded"]["block"] == 12


def test_scan__a_killed_binary_trait_scan_resumes_bit_for_bit(cohort, tmp_path):
    binary = ["--pheno-name", "binary", "--trait-type", "binary", "--quiet"]
    plain = tmp_path / "plain"
    run_ok(_argv(cohort, plain, *binary))
    out = tmp_path / "out"
    run_killed(_argv(cohort, out, *binary), "block:5")
    assert _finished(out) == []
    run_ok(_argv(cohort, out, *binary))
    assert (out / "results.parquet").read_bytes() == (plain / "results.parquet").read_bytes()
    steps = json.loads((out / "summary.json").read_text())["steps"]
    # the GLMM null of the chromosome with blocks left is reloaded, not refitted
    assert steps["reloaded"]["null"] == 1 and steps["computed"]["null"] == 1
    assert steps["reloaded"]["block"] == 5 and steps["computed"]["block"] == 7


def test_scan__a_plain_run_says_it_did_not_resume(uninterrupted):
    summary = json.loads((uninterrupted / "summary.json").read_text())
    assert summary["resumed"] is False
    assert summary["steps"]["computed"] == {
        "block": 12, "heritability": 3, "kinship": 1, "null": 3
    }
    assert summary["steps"]["reloaded"] == {}


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("pheno", "inputs.pheno.sha256"),
        ("option", "options.null: 'reml' -> 'ml'"),
        ("bed", "inputs.bfile.bed"),
    ],
)
def test_scan__changed_input_or_option_is_refused_without_restart(
    cohort, tmp_path, capsys, change, named
):
    import shutil

    folder = tmp_path / "inputs"
    folder.mkdir()
    for suffix in (".bed", ".bim", ".fam", ".pheno.tsv", ".covar.tsv"):
        shutil.copy(f"{cohort}{suffix}", folder / f"sim{suffix}")
    copy, out = folder / "sim", tmp_path / "out"
    assert main(_args(copy, out, "--quiet")) == 0
    extra: tuple[str, ...] = ()
    if change == "pheno":
        table = pd.read_csv(f"{copy}.pheno.tsv", sep="\t")
        table.loc[0, "continuous"] += 1.0
        table.to_csv(f"{copy}.pheno.tsv", sep="\t", index=False)
    elif change == "option":
        extra = ("--null", "ml")
    else:
        data = bytearray(Path(f"{copy}.bed").read_bytes())
        data[100] ^= 0b11  # one genotype of one sample changes
        Path(f"{copy}.bed").write_bytes(bytes(data))
    capsys.readouterr()
    assert main(_args(copy, out, "--quiet", *extra)) == 2
    err = capsys.readouterr().err
    assert "holds checkpoints of a different run" in err and named in err, err
    assert "--restart" in err
    assert _finished(out) == []
    assert main(_args(copy, out, "--quiet", "--restart", *extra)) == 0
    assert json.loads((out / "summary.json").read_text())["resumed"] is False


def test_scan__a_failing_writer_names_the_folder_and_resumes_later(
    cohort, uninterrupted, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"
    real = CheckpointStore.save_frame
    budget = [4]

    def full_disk(self, key, frame, **options):
        if budget[0] == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        budget[0] -= 1
        real(self, key, frame, **options)

    monkeypatch.setattr(kinmix.checkpoint, "COMMIT_SECONDS", 0.0)  # each block at once

    monkeypatch.setattr(CheckpointStore, "save_frame", full_disk)
    assert main(_args(cohort, out, "--quiet")) == 2
    err = capsys.readouterr().err
    assert f"cannot write a checkpoint in {out / '.kinmix'}: No space left on device" in err
    assert _finished(out) == [] and not list(out.glob(".kinmix-staging-*"))
    budget[0] = 10_000  # space again
    assert main(_args(cohort, out, "--quiet")) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed"] is True and summary["steps"]["reloaded"]["block"] >= 1
    expected = pd.read_parquet(uninterrupted / "results.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), expected)


def test_scan__a_failing_final_write_publishes_nothing(cohort, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert main(_args(cohort, out, "--quiet")) == 0

    def full_disk(table, path, tsv, *, top):  # the disk fills up halfway through the parquet
        Path(path).write_bytes(b"PAR1 half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(kinmix.workflow.output, "write_tables", full_disk)
    assert main(_args(cohort, out, "--quiet")) == 2
    err = capsys.readouterr().err
    assert f"cannot write the results in {out}: No space left on device" in err
    assert _finished(out) == [] and not list(out.glob(".kinmix-staging-*"))


@pytest.mark.slow
def test_scan__two_workers_equal_in_process_also_when_a_worker_dies(
    cohort, uninterrupted, tmp_path
):
    expected = pd.read_parquet(uninterrupted / "results.parquet")
    out = tmp_path / "out"
    marker = tmp_path / "killed"
    argv = _argv(cohort, out, "--quiet", "--workers", "2")
    done = run(argv, kill_at="task:3", marker=marker)
    assert done.returncode == 0, done.stderr[-3000:]
    assert marker.exists()  # a worker process died mid-scan
    table = pd.read_parquet(out / "results.parquet")
    assert list(table.columns) == list(expected.columns)
    for column in table.columns:
        if table[column].dtype.kind == "f":
            np.testing.assert_allclose(table[column], expected[column], rtol=1e-12, atol=1e-12)
        else:
            assert table[column].tolist() == expected[column].tolist(), column
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"]["computed"]["block"] == VARIANTS // BLOCK


def test_scan__on_an_existing_scheduler_equals_in_process(cohort, uninterrupted, tmp_path):
    distributed = pytest.importorskip("distributed")
    expected = pd.read_parquet(uninterrupted / "results.parquet")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        out = tmp_path / "out"
        assert main(_args(cohort, out, "--quiet", "--scheduler", cluster.scheduler_address)) == 0
    table = pd.read_parquet(out / "results.parquet")
    floats = [c for c in table.columns if table[c].dtype.kind == "f"]
    np.testing.assert_allclose(table[floats], expected[floats], rtol=1e-12, atol=1e-12)
    assert table["variant"].tolist() == expected["variant"].tolist()


def test_scan__an_unreachable_scheduler_is_a_user_error(cohort, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(_args(cohort, out, "--quiet", "--scheduler", "tcp://127.0.0.1:9")) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert _finished(out) == []


def test_scan__a_killed_joint_scan_resumes_with_its_multi_trait_nulls_refitted(
    cohort, tmp_path
):
    joint = ("--pheno-name", "continuous,count", "--joint", "any", "--quiet")
    plain, out = tmp_path / "plain", tmp_path / "out"
    run_ok(_argv(cohort, plain, *joint))
    run_killed(_argv(cohort, out, *joint), "block:6")
    assert _finished(out) == []
    run_ok(_argv(cohort, out, *joint))
    table = pd.read_parquet(out / "results.parquet")
    pd.testing.assert_frame_equal(
        table, pd.read_parquet(plain / "results.parquet"), check_exact=True
    )
    assert len(table) == VARIANTS
    steps = json.loads((out / "summary.json").read_text())["steps"]
    assert steps["reloaded"]["block"] == 6 and steps["computed"]["block"] == 6


#: ``kinmix scan`` in a child process that dies (SIGKILL) when the Gram files of the
#: kinship pass are flushed to the disk, before the kinship step is stored.
KILLED_IN_FLUSH = (
    "import os, signal, sys; import kinmix.checkpoint as c; "
    "c.make_durable = lambda paths: os.kill(os.getpid(), signal.SIGKILL); "
    "from kinmix.cli import main; sys.exit(main(sys.argv[1:]))"
)
#: The kinship's files in ``OUT/.kinmix``: S and the S_c of the 3 chromosomes.
GRAM_FILES = ["gram-0000.npy", "gram-0001.npy", "gram-0002.npy", "gram.npy"]


def test_scan__the_kinship_step_is_stored_after_its_files_are_flushed_and_before_the_nulls(
    cohort, tmp_path, monkeypatch
):
    import kinmix.workflow.tasks

    grm = sys.modules["kinmix.grm"]
    events = []

    def recording(name, function, label=lambda *a, **k: None):
        def wrapper(*args, **kwargs):
            events.append((name, label(*args, **kwargs)))
            return function(*args, **kwargs)

        return wrapper

    def names(paths):
        return sorted(Path(p).name for p in paths)

    monkeypatch.setattr(kinmix.checkpoint, "start_writeback",
                        recording("writeback", kinmix.checkpoint.start_writeback, names))
    monkeypatch.setattr(kinmix.checkpoint, "make_durable",
                        recording("durable", kinmix.checkpoint.make_durable, names))
    for module in (grm, kinmix.workflow.tasks):
        monkeypatch.setattr(module, "eigh_upper_in_place",
                            recording("eigh", module.eigh_upper_in_place))
    for method in ("save_arrays", "save_frame"):
        monkeypatch.setattr(CheckpointStore, method, recording(
            "save", getattr(CheckpointStore, method), lambda self, key, *a, **k: key))
    out = tmp_path / "out"
    assert main(_args(cohort, out, "--quiet")) == 0
    first_null = events.index(("save", "h2-0000"))
    # the write-out starts when the pass ends, the first chromosome is decomposed while
    # the disk writes, then the files are flushed and the kinship stored, then the nulls
    assert events[:first_null] == [
        ("writeback", GRAM_FILES), ("eigh", None), ("durable", GRAM_FILES),
        ("save", "kinship"),
    ]  # fmt: skip
    assert [e for e in events if e[0] in ("writeback", "durable")] == [
        ("writeback", GRAM_FILES), ("durable", GRAM_FILES)]  # once each


def test_scan__killed_while_the_kinship_is_flushed_redoes_the_pass(
    cohort, uninterrupted, tmp_path
):
    out = tmp_path / "out"
    argv = [sys.executable, "-c", KILLED_IN_FLUSH, *_args(cohort, out, "--quiet")]
    assert run(argv).returncode == -signal.SIGKILL  # killed by the flush
    assert _finished(out) == []
    stored = sorted(p.name for p in (out / ".kinmix").iterdir() if not p.name.startswith("."))
    assert stored == [*GRAM_FILES, "manifest.json"]  # complete files, but no kinship step
    run_ok(_argv(cohort, out, "--quiet"))
    assert (out / "results.parquet").read_bytes() == (
        uninterrupted / "results.parquet").read_bytes()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["resumed"] is False  # no step was stored: as if killed during the pass
    assert summary["steps"]["computed"]["kinship"] == 1 and summary["steps"]["reloaded"] == {}


def test_scan__a_failing_flush_of_the_kinship_names_the_folder_and_resumes_later(
    cohort, uninterrupted, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "out"

    def failing(paths):
        raise OSError(errno.EIO, "Input/output error", str(next(iter(paths))))

    monkeypatch.setattr(kinmix.checkpoint, "make_durable", failing)
    assert main(_args(cohort, out, "--quiet")) == 2
    err = capsys.readouterr().err
    assert f"cannot write a checkpoint in {out / '.kinmix'}: Input/output error" in err
    assert "run the same command again" in err
    assert _finished(out) == [] and not (out / ".kinmix" / "kinship.npz").exists()
    assert not list((out / ".kinmix").glob("null-*"))  # nothing relies on the kinship
    monkeypatch.undo()  # the disk works again
    assert main(_args(cohort, out, "--quiet")) == 0
    expected = pd.read_parquet(uninterrupted / "results.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), expected)
    steps = json.loads((out / "summary.json").read_text())["steps"]
    assert steps["computed"]["kinship"] == 1 and steps["reloaded"] == {}
