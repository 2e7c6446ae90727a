"""Atomic writes, fingerprints and the checkpoint store."""

from __future__ import annotations

import os
import sys

import pytest

from kinmix import InputError
from kinmix.checkpoint import write_atomically


def test_write_atomically__replaces_whole_or_leaves_the_old_file(tmp_path):
    target = tmp_path / "result.tsv"
    write_atomically(target, lambda tmp: tmp.write_text("first\n"))
    assert target.read_text() == "first\n"

    def failing(tmp):
        tmp.write_text("half of a fil")
        raise RuntimeError("killed while writing")

    with pytest.raises(RuntimeError, match="killed while writing"):
        write_atomically(target, failing)
    assert target.read_text() == "first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["result.tsv"]  # no temporary left
    with pytest.raises(RuntimeError, match="killed while writing"):
        write_atomically(tmp_path / "new.tsv", failing)
    assert not (tmp_path / "new.tsv").exists()
    write_atomically(target, lambda tmp: tmp.write_text("second\n"))
    assert target.read_text() == "second\n"


def test_fingerprint_file__full_and_sampled(tmp_path, monkeypatch):
    import hashlib

    from kinmix import checkpoint
    from kinmix.checkpoint import fingerprint_file

    path = tmp_path / "data.bin"
    content = bytes(range(256)) * 400  # 102,400 bytes
    path.write_bytes(content)
    full = fingerprint_file(path, full=True)
    assert full == {"size": 102400, "sha256": hashlib.sha256(content).hexdigest()}
    assert fingerprint_file(path, full=False) == full  # small files are hashed whole
    monkeypatch.setattr(checkpoint, "SAMPLE_WINDOW", 1000)
    monkeypatch.setattr(checkpoint, "SAMPLE_WINDOWS", 4)
    sampled = fingerprint_file(path, full=False)
    assert set(sampled) == {"size", "sampled_sha256"} and sampled["size"] == 102400
    windows = [content[s: s + 1000] for s in (0, 33800, 67600, 101400)]
    expected = hashlib.sha256(b"102400" + b"".join(windows)).hexdigest()
    assert sampled["sampled_sha256"] == expected
    changed = bytearray(content)
    changed[500] ^= 1  # inside the first window
    path.write_bytes(bytes(changed))
    assert fingerprint_file(path, full=False) != sampled
    with pytest.raises(InputError, match=r"cannot read .*absent\.bin to fingerprint it"):
        fingerprint_file(tmp_path / "absent.bin", full=True)


MANIFEST = {"inputs": {"bfile": {"size": 10, "sha256": "aa"}}, "options": {"loco": True},
            "version": "0.1.0"}


def test_checkpoint_store__saves_resumes_and_restarts(tmp_path):
    import numpy as np
    import pandas as pd

    from kinmix.checkpoint import CheckpointStore

    store = CheckpointStore.open(tmp_path / "out", manifest=MANIFEST)
    assert not store.resumed and store.path == tmp_path / "out" / ".kinmix"
    assert not store.has("chrom1")
    frame = pd.DataFrame({"variant": ["a", "b"], "pvalue": [0.5, 1e-9]},
                         index=pd.Index([3, 7], name="row"))
    store.save_frame("chrom1", frame)
    store.save_arrays("null.trait-0", delta=np.array([0.25]), beta=np.arange(3.0))
    assert store.has("chrom1") and store.has("null.trait-0")

    again = CheckpointStore.open(tmp_path / "out", manifest=json_roundtrip(MANIFEST))
    assert again.resumed
    pd.testing.assert_frame_equal(again.load_frame("chrom1"), frame)
    arrays = again.load_arrays("null.trait-0")
    assert sorted(arrays) == ["beta", "delta"]
    np.testing.assert_array_equal(arrays["beta"], np.arange(3.0))

    fresh = CheckpointStore.open(tmp_path / "out", manifest=MANIFEST, restart=True)
    assert not fresh.resumed and not fresh.has("chrom1") and not fresh.has("null.trait-0")
    assert sorted(p.name for p in fresh.path.iterdir()) == ["manifest.json"]


def json_roundtrip(value):
    import json

    return json.loads(json.dumps(value))


def test_checkpoint_store__changed_manifest_names_what_changed(tmp_path):
    from kinmix.checkpoint import CheckpointStore

    CheckpointStore.open(tmp_path, manifest=MANIFEST).save_frame(
        "done", __import__("pandas").DataFrame({"x": [1]}))
    changed = json_roundtrip(MANIFEST)
    changed["inputs"]["bfile"]["sha256"] = "bb"
    changed["options"]["maf"] = 0.01
    with pytest.raises(InputError, match=r"holds checkpoints of a different run; changed: "
                       r"inputs\.bfile\.sha256: 'aa' -> 'bb'; options\.maf: absent -> 0\.01\. "
                       r"Pass restart=True \(--restart\)"):
        CheckpointStore.open(tmp_path, manifest=changed)
    store = CheckpointStore.open(tmp_path, manifest=changed, restart=True)
    assert not store.resumed and not store.has("done")
    assert CheckpointStore.open(tmp_path, manifest=changed).resumed


def test_checkpoint_store__errors_and_untrusted_leftovers(tmp_path):
    import numpy as np

    from kinmix.checkpoint import CheckpointStore

    with pytest.raises(InputError, match="manifest must be JSON-serialisable"):
        CheckpointStore.open(tmp_path, manifest={"x": object()})
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InputError, match="cannot create the checkpoint folder"):
        CheckpointStore.open(blocker, manifest=MANIFEST)
    store = CheckpointStore.open(tmp_path / "out", manifest=MANIFEST)
    with pytest.raises(InputError, match=r"checkpoint key '\.\./x' must be letters"):
        store.has("../x")
    with pytest.raises(InputError, match=r"no checkpoint frame 'absent'"):
        store.load_frame("absent")
    with pytest.raises(InputError, match=r"no checkpoint arrays 'absent'"):
        store.load_arrays("absent")
    store.save_arrays("kept", a=np.ones(2))
    (store.path / "manifest.json").write_text("{not json")  # a damaged manifest
    reopened = CheckpointStore.open(tmp_path / "out", manifest=MANIFEST)
    assert not reopened.resumed and not reopened.has("kept")


def test_checkpoint_store__a_failed_save_keeps_the_previous_result(tmp_path, monkeypatch):
    import errno
    import os

    import pandas as pd

    from kinmix.checkpoint import CheckpointStore

    store = CheckpointStore.open(tmp_path, manifest=MANIFEST)
    store.save_frame("part", pd.DataFrame({"x": [1.0]}))
    write = os.write

    def full_disk(handle, data):  # a few bytes reach the disk, then it is full
        write(handle, bytes(data)[:6])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError, match="No space left"):
        store.save_frame("part", pd.DataFrame({"x": [2.0]}))
    monkeypatch.undo()
    pd.testing.assert_frame_equal(store.load_frame("part"), pd.DataFrame({"x": [1.0]}))
    assert sorted(p.name for p in store.path.iterdir()) == ["manifest.json", "part.arrow"]


def test_checkpoint_store__batched_results_wait_then_commit_together(tmp_path):
    import numpy as np
    import pandas as pd

    from kinmix.checkpoint import CheckpointStore

    store = CheckpointStore.open(tmp_path, manifest=MANIFEST, commit_seconds=60.0)
    frames = {f"b{i}": pd.DataFrame({"x": np.arange(3.0) + i}) for i in range(3)}
    for key, frame in frames.items():
        store.save_frame(key, frame, batch=True)
    store.save_arrays("a0", batch=True, v=np.array([1.5, 2.5]))
    store.save_arrays("null", d=np.array([0.5]))  # not batched: its own file at once
    # waiting results are visible to this store, and not yet on disk
    assert all(store.has(key) for key in [*frames, "a0"])
    pd.testing.assert_frame_equal(store.load_frame("b1"), frames["b1"])
    assert sorted(p.name for p in store.path.iterdir()) == ["manifest.json", "null.npz"]
    reopened = CheckpointStore.open(tmp_path, manifest=MANIFEST)
    assert reopened.resumed and not reopened.has("b0") and reopened.has("null")

    store.flush()
    assert sorted(p.name for p in store.path.iterdir()) == [
        "batch-b0.batch", "manifest.json", "null.npz"
    ]
    store.flush()  # nothing waits: nothing written
    again = CheckpointStore.open(tmp_path, manifest=MANIFEST)
    for key, frame in frames.items():
        pd.testing.assert_frame_equal(again.load_frame(key), frame, check_exact=True)
    np.testing.assert_array_equal(again.load_arrays("a0")["v"], [1.5, 2.5])
    # one result waiting alone is committed as its own file
    again.save_frame("single", frames["b2"], batch=True)
    again.flush()
    assert (again.path / "single.arrow").is_file()


def test_checkpoint_store__commits_when_time_or_size_is_reached(tmp_path):
    import numpy as np

    from kinmix.checkpoint import CheckpointStore

    timed = CheckpointStore.open(tmp_path / "t", manifest=MANIFEST, commit_seconds=30.0)
    timed.save_arrays("x0", batch=True, v=np.zeros(4))
    timed.save_arrays("x1", batch=True, v=np.ones(4))
    assert not list(timed.path.glob("*.batch"))
    timed._last_commit -= 30.0  # 30 s of work since the last commit
    timed.save_arrays("x2", batch=True, v=np.ones(4))
    assert [p.name for p in timed.path.glob("*.batch")] == ["batch-x0.batch"]
    assert not timed._waiting

    sized = CheckpointStore.open(tmp_path / "s", manifest=MANIFEST, commit_seconds=1e9,
                                 commit_bytes=3000)
    for i in range(5):  # each .npz is about 1,100 bytes: a commit every third save
        sized.save_arrays(f"y{i}", batch=True, v=np.zeros(100))
    assert [p.name for p in sized.path.glob("*.batch")] == ["batch-y0.batch"]
    assert sorted(sized._waiting) == ["y3.npz", "y4.npz"]


def test_checkpoint_store__an_unreadable_batch_file_counts_as_absent(tmp_path):
    import numpy as np

    from kinmix.checkpoint import CheckpointStore

    store = CheckpointStore.open(tmp_path, manifest=MANIFEST, commit_seconds=1e9)
    store.save_arrays("x0", batch=True, v=np.zeros(4))
    store.save_arrays("x1", batch=True, v=np.zeros(4))
    store.flush()
    batch = store.path / "batch-x0.batch"
    batch.write_bytes(batch.read_bytes()[:50])  # e.g. damaged by a crash of the machine
    reopened = CheckpointStore.open(tmp_path, manifest=MANIFEST)
    assert reopened.resumed and not reopened.has("x0") and not reopened.has("x1")


def test_fingerprint_array__sampled_hashes_bounded_windows_with_first_and_last(monkeypatch):
    import hashlib

    import numpy as np

    from kinmix.gwas import _resume, fingerprint_array

    G = np.random.default_rng(0).normal(size=(200, 50_000))
    hashed = []
    real = hashlib.sha256

    class Counting:
        def __init__(self):
            self.inner = real()

        def update(self, data):
            hashed.append(memoryview(data).nbytes)
            self.inner.update(data)

        def hexdigest(self):
            return self.inner.hexdigest()

    monkeypatch.setattr(_resume.hashlib, "sha256", Counting)
    first = fingerprint_array(G, sampled=True)
    # 16 windows of 163 columns (256 KiB // 1,600 bytes), not a quarter of the columns
    assert hashed == [200 * 163 * 8] * 16
    assert first["shape"] == [200, 50_000] and "sampled_sha256" in first
    monkeypatch.undo()
    inner = int(np.linspace(0, 50_000 - 163, 16).astype(int)[8]) + 100  # inside window 9
    for column in (0, 49_999, inner):
        changed = G.copy()
        changed[7, column] += 1.0
        assert fingerprint_array(changed, sampled=True) != first, column
    assert fingerprint_array(G[:, :-1], sampled=True)["shape"] == [200, 49_999]
    small = np.arange(12.0).reshape(3, 4)
    assert fingerprint_array(small, sampled=True)["sha256"] == hashlib.sha256(
        small.tobytes()).hexdigest()


def test_files_written_without_waiting_for_the_disk_are_complete_and_made_durable(tmp_path):
    from kinmix.checkpoint import make_durable, write_atomically

    paths = [tmp_path / f"part-{i}.bin" for i in range(3)]
    for i, path in enumerate(paths):
        write_atomically(path, lambda tmp, i=i: tmp.write_bytes(bytes([i]) * 1000), durable=False)
    assert [p.read_bytes() for p in paths] == [bytes([i]) * 1000 for i in range(3)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in paths]  # no tmp left
    make_durable(paths)
    with pytest.raises(FileNotFoundError):
        make_durable([tmp_path / "absent.bin"])


def test_start_writeback_asks_the_kernel_for_each_whole_file_and_is_a_no_op_elsewhere(
    tmp_path, monkeypatch
):
    import kinmix.checkpoint as checkpoint

    paths = [tmp_path / f"gram-{i}.npy" for i in range(3)]
    for i, path in enumerate(paths):
        path.write_bytes(bytes([i]) * 5000)
    if sys.platform.startswith("linux"):  # the real call: the data stay as written
        assert checkpoint._sync_file_range() is not None
        checkpoint.start_writeback(paths)
        assert [p.read_bytes() for p in paths] == [bytes([i]) * 5000 for i in range(3)]
    calls = []

    def record(handle, offset, count, flags):
        calls.append((os.fstat(handle).st_ino, offset, count, flags))
        return 0

    monkeypatch.setattr(checkpoint, "_sync_file_range", lambda: record)
    checkpoint.start_writeback(paths)
    # each file from its first byte to its end (count 0), SYNC_FILE_RANGE_WRITE only
    assert calls == [(p.stat().st_ino, 0, 0, 2) for p in paths]
    with pytest.raises(FileNotFoundError):
        checkpoint.start_writeback([tmp_path / "absent.npy"])
    monkeypatch.setattr(checkpoint, "_sync_file_range", lambda: None)  # not Linux
    checkpoint.start_writeback([tmp_path / "absent.npy"])  # nothing asked, nothing raised
