"""Atomic writes, fingerprints and the checkpoint store."""

from __future__ import annotations

from pathlib import Path

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
    import pandas as pd
    from pyarrow import feather

    from kinmix.checkpoint import CheckpointStore

    store = CheckpointStore.open(tmp_path, manifest=MANIFEST)
    store.save_frame("part", pd.DataFrame({"x": [1.0]}))

    def broken(frame, path, *args, **kwargs):
        Path(path).write_bytes(b"ARROW1 half")
        raise OSError("disk full")

    monkeypatch.setattr(feather, "write_feather", broken)
    with pytest.raises(OSError, match="disk full"):
        store.save_frame("part", pd.DataFrame({"x": [2.0]}))
    monkeypatch.undo()
    pd.testing.assert_frame_equal(store.load_frame("part"), pd.DataFrame({"x": [1.0]}))
    assert sorted(p.name for p in store.path.iterdir()) == ["manifest.json", "part.arrow"]
