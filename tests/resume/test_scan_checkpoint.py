"""kinmix.scan(checkpoint=...): killed runs resume to the same table, bit for bit, whether
blocks are committed one by one or in batches; finished steps are reused; changed inputs
are refused; a failing writer names the folder."""

from __future__ import annotations

import errno
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

import kinmix
import kinmix.checkpoint
from kinmix.checkpoint import CheckpointStore
from kinmix.errors import InputError, OutputError
from kinmix.gwas import _driver

from ._harness import python, run_killed, run_ok

pytestmark = pytest.mark.filterwarnings("ignore::kinmix.errors.BoundaryWarning")

#: A child process: the scan of a fixed cohort, checkpointed in argv[1], table to argv[2],
#: batched blocks committed every argv[3] seconds or argv[4] bytes.
CHILD = """
import sys
import numpy as np, kinmix, kinmix.checkpoint
kinmix.checkpoint.COMMIT_SECONDS = float(sys.argv[3])
kinmix.checkpoint.COMMIT_BYTES = int(sys.argv[4])
rng = np.random.default_rng(5)
n, m = 50, 64
G = rng.integers(0, 3, (n, m)).astype(float)
G[rng.random((n, m)) < 0.03] = np.nan
Z = rng.normal(size=(n, 90))
y = rng.normal(size=(n, 2))
table = kinmix.scan(G, y, K=Z @ Z.T / 90, block_size=8, checkpoint=sys.argv[1])
table.to_pickle(sys.argv[2])
"""


def _data():
    rng = np.random.default_rng(5)
    n, m = 50, 64
    G = rng.integers(0, 3, (n, m)).astype(float)
    Z = rng.normal(size=(n, 90))
    return G, rng.normal(size=n), Z @ Z.T / 90


@pytest.fixture
def each_block_committed(monkeypatch):
    """Commit every block as it is saved (no batches), as for slow blocks."""
    monkeypatch.setattr(kinmix.checkpoint, "COMMIT_SECONDS", 0.0)


def _child(folder, seconds: float = 0.0, size: int = 1 << 30) -> list[str]:
    return python(CHILD, str(folder / "ck"), str(folder / "table.pkl"), str(seconds), str(size))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The table of an uninterrupted run and the bytes of one stored block."""
    folder = tmp_path_factory.mktemp("plain")
    run_ok(_child(folder))
    size = (folder / "ck" / ".kinmix" / "block-000000000000.npz").stat().st_size
    return pd.read_pickle(folder / "table.pkl"), size


def _stored_blocks(folder) -> dict[str, list[str]]:
    """Stored block keys by the file that holds them."""
    files = {}
    for path in sorted((folder / "ck" / ".kinmix").iterdir()):
        if path.name.startswith("block-"):
            files[path.name] = [path.stem]
        elif path.suffix == ".batch":
            with zipfile.ZipFile(path) as archive:
                files[path.name] = [name.removesuffix(".npz") for name in archive.namelist()]
    return files


@pytest.mark.parametrize("kill_at", ["null:1", "block:1", "block:5"])
def test_scan_checkpoint__killed_run_resumes_to_the_same_table(tmp_path, uninterrupted, kill_at):
    argv = _child(tmp_path)  # every block committed when saved
    run_killed(argv, kill_at)
    assert not (tmp_path / "table.pkl").exists()
    stored = sorted(p.name for p in (tmp_path / "ck" / ".kinmix").iterdir())
    assert "manifest.json" in stored
    step, count = kill_at.split(":")
    finished = int(count) if step == "block" else 0  # the hook fires once a step is stored
    assert len([s for s in stored if s.startswith("block-")]) == finished
    run_ok(argv)
    table = pd.read_pickle(tmp_path / "table.pkl")
    pd.testing.assert_frame_equal(table, uninterrupted[0], check_exact=True)
    assert table.shape[0] == 64 * 2 and not table.duplicated(["variant", "trait"]).any()


@pytest.mark.parametrize(
    ("policy", "kill_at", "committed"),
    [
        # committed when two blocks wait: blocks 1-4 in two batch files, block 5 lost
        ("bytes", "block:5", [[0, 8], [16, 24]]),
        ("bytes", "block:2", [[0, 8]]),
        ("bytes", "block:1", []),
        # never by time nor size: every block waits until the end, all lost
        ("end", "block:7", []),
    ],
)
def test_scan_checkpoint__killed_batched_run_loses_only_the_waiting_blocks(
    tmp_path, uninterrupted, policy, kill_at, committed
):
    expected, block_bytes = uninterrupted
    size = 2 * block_bytes - 1 if policy == "bytes" else 1 << 30
    argv = _child(tmp_path, seconds=1e9, size=size)
    run_killed(argv, kill_at)
    assert not (tmp_path / "table.pkl").exists()
    batches = list(_stored_blocks(tmp_path).values())
    assert batches == [[f"block-{start:012d}" for start in batch] for batch in committed]
    assert (tmp_path / "ck" / ".kinmix" / "null.npz").is_file()  # the null is not batched
    run_ok(argv)
    table = pd.read_pickle(tmp_path / "table.pkl")
    pd.testing.assert_frame_equal(table, expected, check_exact=True)
    # after the resumed run, every block is stored once: 8 blocks in all
    keys = [key for batch in _stored_blocks(tmp_path).values() for key in batch]
    assert sorted(keys) == [f"block-{start:012d}" for start in range(0, 64, 8)]


def test_scan_checkpoint__resume_reuses_the_null_and_finished_blocks(
    tmp_path, monkeypatch, each_block_committed
):
    G, y, K = _data()
    expected = kinmix.scan(G, y, K=K, block_size=8)
    first = kinmix.scan(G[:, :40], y, K=K, block_size=8)
    assert first.shape[0] == 40
    folder = tmp_path / "ck"
    kinmix.scan(G, y, K=K, block_size=8, checkpoint=folder)
    for key in ("block-000000000016", "block-000000000048"):
        (folder / ".kinmix" / f"{key}.npz").unlink()
    calls = []
    real = _driver.scan_genotypes
    spy = lambda s, b: calls.append(b.shape) or real(s, b)  # noqa: E731
    monkeypatch.setattr(_driver, "scan_genotypes", spy)
    fits = []
    monkeypatch.setattr(kinmix.lmm.LMM, "fit", lambda self, **k: fits.append(1))
    again = kinmix.scan(G, y, K=K, block_size=8, checkpoint=folder)
    assert calls == [(50, 8), (50, 8)] and fits == []  # two blocks recomputed, nothing refitted
    pd.testing.assert_frame_equal(again, expected, check_exact=True)


def test_scan_checkpoint__changed_input_or_option_is_refused_unless_restart(tmp_path):
    G, y, K = _data()
    folder = tmp_path / "ck"
    kinmix.scan(G, y, K=K, block_size=8, checkpoint=folder)
    with pytest.raises(InputError, match=r"changed: inputs\.y\.sha256"):
        kinmix.scan(G, y + 1, K=K, block_size=8, checkpoint=folder)
    with pytest.raises(InputError, match=r"options\.block_size: 8 -> 16"):
        kinmix.scan(G, y, K=K, block_size=16, checkpoint=folder)
    G2 = G.copy()
    G2[3, 0] = 2 - G2[3, 0] if G2[3, 0] != 1 else 0.0
    with pytest.raises(InputError, match=r"inputs\.G\.sampled_sha256"):
        kinmix.scan(G2, y, K=K, block_size=8, checkpoint=folder)
    got = kinmix.scan(G2, y, K=K, block_size=8, checkpoint=folder, restart=True)
    pd.testing.assert_frame_equal(got, kinmix.scan(G2, y, K=K, block_size=8), check_exact=True)
    manifest = json.loads((folder / ".kinmix" / "manifest.json").read_text())
    assert manifest["options"] == {
        "block_size": 8, "restricted": False, "test": "lrt", "refit_delta": False, "deltas": None
    }  # fmt: skip


@pytest.mark.parametrize("test", ["all", "score"])
def test_scan_checkpoint__every_test_resumes_to_the_same_columns(
    tmp_path, test, each_block_committed
):
    G, y, K = _data()
    expected = kinmix.scan(G, y, K=K, block_size=8, test=test)
    kinmix.scan(G, y, K=K, block_size=8, test=test, checkpoint=tmp_path)
    (tmp_path / ".kinmix" / "block-000000000024.npz").unlink()
    got = kinmix.scan(G, y, K=K, block_size=8, test=test, checkpoint=tmp_path)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)


def test_scan_checkpoint__failing_writer_names_the_folder_and_resumes_later(
    tmp_path, monkeypatch, each_block_committed
):
    G, y, K = _data()
    folder = tmp_path / "ck"
    real = CheckpointStore.save_arrays
    budget = [3]

    def full_disk(self, key, **arrays):
        if budget[0] == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        budget[0] -= 1
        real(self, key, **arrays)

    monkeypatch.setattr(CheckpointStore, "save_arrays", full_disk)
    with pytest.raises(OutputError, match=r"cannot write a checkpoint in .*ck/\.kinmix: No space"):
        kinmix.scan(G, y, K=K, block_size=8, checkpoint=folder)
    left = sorted(p.name for p in (folder / ".kinmix").iterdir())
    assert left == [
        "block-000000000000.npz", "block-000000000008.npz", "manifest.json", "null.npz"
    ]
    budget[0] = 100  # space again
    got = kinmix.scan(G, y, K=K, block_size=8, checkpoint=folder)
    pd.testing.assert_frame_equal(got, kinmix.scan(G, y, K=K, block_size=8), check_exact=True)


def test_scan_checkpoint__a_failing_batch_commit_names_the_folder_and_resumes_later(
    tmp_path, monkeypatch
):
    G, y, K = _data()
    folder = tmp_path / "ck"
    real = kinmix.checkpoint._publish

    def full_disk(path, pieces):
        if path.suffix == ".batch":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, pieces)

    monkeypatch.setattr(kinmix.checkpoint, "_publish", full_disk)
    with pytest.raises(OutputError, match=r"cannot write a checkpoint in .*ck/\.kinmix: No space"):
        kinmix.scan(G, y, K=K, block_size=8, checkpoint=folder)  # the blocks wait to the end
    assert sorted(p.name for p in (folder / ".kinmix").iterdir()) == ["manifest.json", "null.npz"]
    monkeypatch.undo()
    got = kinmix.scan(G, y, K=K, block_size=8, checkpoint=folder)
    pd.testing.assert_frame_equal(got, kinmix.scan(G, y, K=K, block_size=8), check_exact=True)
    assert [p.suffix for p in (folder / ".kinmix").glob("block-*")] == []
    assert len(list((folder / ".kinmix").glob("*.batch"))) == 1


def test_a_blocks_packed_arrays_give_back_its_result_bit_for_bit():
    import dataclasses

    from kinmix.gwas._block import BlockResult
    from kinmix.gwas._driver import _arrays, _block_result

    rng = np.random.default_rng(3)
    P, m, q = 2, 5, 2
    per_trait = rng.standard_normal((P, m))
    per_trait[0, 1] = np.nan
    result = BlockResult(
        nobs=np.array([7, 7, 6, 0, 7]),
        af=np.array([0.1, np.nan, 0.3, np.nan, 5e-324]),
        reason=np.array([0, 0, 3, 2, 0], dtype=np.int8),
        beta=per_trait, se=per_trait * 2, chi2=per_trait**2, pvalue=np.abs(per_trait),
        lml=-per_trait, scale=np.exp(per_trait),
        beta_gxe=rng.standard_normal((P, m, q)), se_gxe=rng.standard_normal((P, m, q)),
        extra={"wald": per_trait + 1, "f": per_trait - 1},
    )
    packed = _arrays(result)
    assert set(packed) == {"names", "dtypes", "shapes", "values"}
    again = _block_result(packed)
    for field in dataclasses.fields(BlockResult):
        want, got = getattr(result, field.name), getattr(again, field.name)
        if field.name == "extra":
            assert list(got) == ["wald", "f"]
            for name in want:
                np.testing.assert_array_equal(got[name], want[name])
            continue
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    plain = dataclasses.replace(result, beta_gxe=None, se_gxe=None, extra=None)
    back = _block_result(_arrays(plain))
    assert back.beta_gxe is None and back.se_gxe is None and back.extra is None
