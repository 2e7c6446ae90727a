"""Kinship files: GCTA's binary GRM byte for byte, kinmix's .npz, and their errors."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from kinmix import InputError
from kinmix.io import kinship as kinship_module
from kinmix.io.kinship import read_kinship, write_kinship


def random_kinship(n, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 3 * n))
    return z @ z.T / (3 * n)


def test_gcta__reads_a_file_built_byte_by_byte(tmp_path):
    # K = [[1.0, 0.25, -0.5], [0.25, 2.0, 0.125], [-0.5, 0.125, 0.75]]; lower triangle by rows
    (tmp_path / "tiny.grm.bin").write_bytes(struct.pack("<6f", 1.0, 0.25, 2.0, -0.5, 0.125, 0.75))
    (tmp_path / "tiny.grm.N.bin").write_bytes(struct.pack("<6f", 100, 99, 100, 98, 97, 100))
    (tmp_path / "tiny.grm.id").write_text("F1\tA\nF2\tB\nF3\tC\n")
    expected = np.array([[1.0, 0.25, -0.5], [0.25, 2.0, 0.125], [-0.5, 0.125, 0.75]])
    for name in ("tiny", "tiny.grm", "tiny.grm.bin"):
        kinship = read_kinship(tmp_path / name)
        np.testing.assert_array_equal(kinship.matrix, expected)
        assert list(kinship.ids) == ["A", "B", "C"] and kinship.n_variants == 100
    (tmp_path / "tiny.grm.N.bin").unlink()
    assert read_kinship(tmp_path / "tiny").n_variants is None


def test_gcta__writes_the_exact_layout(tmp_path):
    matrix = np.array([[1.0, 0.25, -0.5], [0.25, 2.0, 0.125], [-0.5, 0.125, 0.75]])
    write_kinship(tmp_path / "out.grm.bin", matrix, ["A", "B", "C"], n_variants=42,
                  fids=["F1", "F2", "F3"])
    assert (tmp_path / "out.grm.bin").read_bytes() == struct.pack(
        "<6f", 1.0, 0.25, 2.0, -0.5, 0.125, 0.75)
    assert (tmp_path / "out.grm.N.bin").read_bytes() == struct.pack("<6f", *[42.0] * 6)
    assert (tmp_path / "out.grm.id").read_text() == "F1\tA\nF2\tB\nF3\tC\n"
    write_kinship(tmp_path / "out", matrix, ["A", "B", "C"])  # no count: stale N.bin removed
    assert not (tmp_path / "out.grm.N.bin").exists()
    assert (tmp_path / "out.grm.id").read_text() == "A\tA\nB\tB\nC\tC\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.grm.bin", "out.grm.id"]


@pytest.mark.parametrize("n", [1, 7, 600])
def test_kinship__round_trips(tmp_path, monkeypatch, n):
    monkeypatch.setattr(kinship_module, "ROWS_PER_BLOCK", 3 if n < 100 else 256)
    matrix = random_kinship(n, seed=n)
    ids = [f"id{i}" for i in range(n)]
    write_kinship(tmp_path / "k.npz", matrix, ids, n_variants=1234)
    stored = read_kinship(tmp_path / "k.npz")
    np.testing.assert_array_equal(stored.matrix, matrix)
    assert list(stored.ids) == ids and stored.n_variants == 1234 and stored.ids.name == "iid"
    write_kinship(tmp_path / "k", matrix, ids, n_variants=1234)
    gcta = read_kinship(tmp_path / "k")
    np.testing.assert_array_equal(gcta.matrix, matrix.astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(gcta.matrix, gcta.matrix.T)
    assert list(gcta.ids) == ids and gcta.n_variants == 1234
    assert (tmp_path / "k.grm.bin").stat().st_size == 4 * n * (n + 1) // 2
    write_kinship(tmp_path / "none.npz", matrix, ids)
    assert read_kinship(tmp_path / "none.npz").n_variants is None


def test_kinship__read_errors(tmp_path):
    with pytest.raises(InputError, match=r"GCTA kinship file .*absent\.grm\.bin does not exist"):
        read_kinship(tmp_path / "absent")
    with pytest.raises(InputError, match=r"kinship file .*absent\.npz does not exist"):
        read_kinship(tmp_path / "absent.npz")
    (tmp_path / "k.grm.bin").write_bytes(struct.pack("<5f", 1, 0, 1, 0, 0))
    (tmp_path / "k.grm.id").write_text("a a\nb b\nc c\n")
    with pytest.raises(InputError, match=r"k\.grm\.bin has 20 bytes but its \.grm\.id lists 3 "
                       r"samples, which need 24"):
        read_kinship(tmp_path / "k")
    (tmp_path / "k.grm.bin").write_bytes(struct.pack("<6f", 1, 0, 1, 0, float("nan"), 1))
    with pytest.raises(InputError, match=r"missing or infinite entries for samples \['b', 'c'\]"):
        read_kinship(tmp_path / "k")
    (tmp_path / "k.grm.bin").write_bytes(struct.pack("<6f", 1, 0, 1, 0, 0, 1))
    (tmp_path / "k.grm.id").write_text("a a\nb b\nb b\n")
    with pytest.raises(InputError, match=r"k\.grm\.id repeats sample IDs \['b'\]"):
        read_kinship(tmp_path / "k")
    (tmp_path / "k.grm.id").write_text("a a\nb\nc c\n")
    with pytest.raises(InputError, match=r"line 2 needs two fields, FID and IID"):
        read_kinship(tmp_path / "k")
    (tmp_path / "k.grm.id").write_text("\n")
    with pytest.raises(InputError, match=r"k\.grm\.id lists no samples"):
        read_kinship(tmp_path / "k")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"bad\.npz is not a readable \.npz archive"):
        read_kinship(tmp_path / "bad.npz")
    np.savez(tmp_path / "partial.npz", matrix=np.eye(2))
    with pytest.raises(InputError, match=r"partial\.npz lacks the arrays \['ids'\]"):
        read_kinship(tmp_path / "partial.npz")


def test_kinship__write_errors(tmp_path):
    ids = ["a", "b"]
    with pytest.raises(InputError, match=r"must be a square matrix; shape \(2, 3\)"):
        write_kinship(tmp_path / "k.npz", np.zeros((2, 3)), ids)
    with pytest.raises(InputError, match="has 2 rows but there are 3 IDs"):
        write_kinship(tmp_path / "k.npz", np.eye(2), ["a", "b", "c"])
    with pytest.raises(InputError, match="is not symmetric"):
        write_kinship(tmp_path / "k.npz", np.array([[1.0, 0.5], [0.0, 1.0]]), ids)
    with pytest.raises(InputError, match="missing or infinite entries"):
        write_kinship(tmp_path / "k.npz", np.array([[1.0, np.nan], [np.nan, 1.0]]), ids)
    with pytest.raises(InputError, match=r"repeats sample IDs \['a'\]"):
        write_kinship(tmp_path / "k.npz", np.eye(2), ["a", "a"])
    with pytest.raises(InputError, match="1 family IDs for 2 samples"):
        write_kinship(tmp_path / "k", np.eye(2), ids, fids=["f"])
    with pytest.raises(InputError, match="cannot write the kinship to"):
        write_kinship(tmp_path / "absent-folder" / "k", np.eye(2), ids)
    assert list(tmp_path.iterdir()) == []


def plink2_or_skip():
    import os
    import shutil

    executable = shutil.which("plink2")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("plink2 is required on CI (Debian package plink2)")
        pytest.skip("plink2 is not installed")
    return executable


def test_gcta__reads_plink2s_grm_like_its_text_relationship_matrix(tmp_path):
    import subprocess
    from pathlib import Path

    plink2 = plink2_or_skip()
    bfile = Path(__file__).resolve().parents[2] / "src" / "kinmix" / "data" / "synth" / "all"
    for flag, out in ((["--make-grm-bin"], "g"), (["--make-rel", "square"], "r")):
        subprocess.run([plink2, "--bfile", str(bfile), *flag, "--threads", "1",
                        "--out", str(tmp_path / out)], check=True, capture_output=True)
    kinship = read_kinship(tmp_path / "g")
    text = np.loadtxt(tmp_path / "r.rel")
    assert kinship.matrix.shape == (500, 500) and kinship.n_variants == 5000
    assert list(kinship.ids[:2]) == ["cid0P0", "cid1P0"]
    np.testing.assert_allclose(kinship.matrix, text, atol=2e-5)  # float32 vs printed digits
