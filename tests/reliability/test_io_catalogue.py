"""Catalogue: corrupt, truncated, inconsistent and unreadable input files of ``kinmix.io``.

Every failure is a :class:`kinmix.InputError` whose message names the offending file.
The PLINK filesets are written here byte by byte (8 samples, 3 variants).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kinmix import InputError
from kinmix.io import read_plink, read_sample_table

from ._data import case_params

N, M = 8, 3
DOSAGES = np.array([[0, 1, 2, 0, 1, 2, 0, 1], [2, 2, 1, 1, 0, 0, 1, 1], [0, 0, 0, 1, 0, 0, 0, 2]])
# PLINK 1 codes (count of a2 in the file's 2-bit code, a1 counted by the reader).
CODE = {2: 0b00, 1: 0b10, 0: 0b11}


def _bed_bytes(dosages: np.ndarray) -> bytes:
    out = bytearray([0x6C, 0x1B, 0x01])
    for row in dosages:
        for start in range(0, len(row), 4):
            byte = 0
            for shift, value in enumerate(row[start : start + 4]):
                byte |= CODE[int(value)] << (2 * shift)
            out.append(byte)
    return bytes(out)


def write_plink(folder: Path, name: str = "x") -> Path:
    prefix = folder / name
    prefix.with_suffix(".bed").write_bytes(_bed_bytes(DOSAGES))
    prefix.with_suffix(".fam").write_text("".join(f"f{i} i{i} 0 0 1 -9\n" for i in range(N)))
    prefix.with_suffix(".bim").write_text(
        "".join(f"1\trs{j}\t0\t{100 * (j + 1)}\tA\tG\n" for j in range(M))
    )
    return prefix


def test_io_plink_round_trip(tmp_path):
    genotypes = read_plink(write_plink(tmp_path))
    assert genotypes.shape == (N, M)
    np.testing.assert_array_equal(genotypes.read(), DOSAGES.T)


def _damage(tmp_path, ext, change):
    prefix = write_plink(tmp_path)
    path = prefix.with_suffix(ext)
    change(path)
    return prefix


def _truncate(path):
    path.write_bytes(path.read_bytes()[:-2])


def _drop_last_line(path):
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))


def _drop_four_lines(path):
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-4]))


def _add_line(path):
    path.write_text(path.read_text() + path.read_text().splitlines(keepends=True)[-1])


def _empty(path):
    path.write_text("")


def _bad_magic(path):
    path.write_bytes(b"\x00\x00\x00" + path.read_bytes()[3:])


def _make_directory(path):
    path.unlink()
    path.mkdir()


def _remove(path):
    path.unlink()


def _open_and_read(prefix):
    read_plink(prefix).read()


PLINK_CASES = [
    ("io-plink-bed-missing", ".bed", _remove, r"x\.bed does not exist"),
    ("io-plink-bim-missing", ".bim", _remove, r"x\.bim does not exist"),
    ("io-plink-fam-missing", ".fam", _remove, r"x\.fam does not exist"),
    ("io-plink-bed-truncated", ".bed", _truncate, r"x\.bed"),
    ("io-plink-bed-bad-magic", ".bed", _bad_magic, r"x\.bed"),
    ("io-plink-bed-is-directory", ".bed", _make_directory, r"x\.bed"),
    pytest.param(
        "io-plink-fam-empty",
        ".fam",
        _empty,
        r"x\.fam",
    ),
    ("io-plink-fam-short-by-4", ".fam", _drop_four_lines, r"x\.(bed|fam)"),
    ("io-plink-fam-long", ".fam", _add_line, r"x\.(bed|fam)"),
    ("io-plink-bim-short", ".bim", _drop_last_line, r"x\.(bed|bim)"),
    ("io-plink-bim-long", ".bim", _add_line, r"x\.(bed|bim)"),
]


@pytest.mark.parametrize(
    ("ext", "change", "match"),
    case_params(PLINK_CASES),
)
def test_io_plink_damage_is_refused_naming_the_file(tmp_path, ext, change, match):
    prefix = _damage(tmp_path, ext, change)
    with pytest.raises(InputError, match=match):
        _open_and_read(prefix)


def _table(tmp_path, content: bytes, name="pheno.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


TABLE_CASES = [
    ("io-table-missing", None, r"nope\.txt does not exist"),
    ("io-table-non-utf8-id", b"F1 I\xff1 1.0\nF2 I2 2.0\n", r"pheno\.txt is not UTF-8 text"),
    ("io-table-two-columns", b"F1 I1\nF2 I2\n", r"pheno\.txt has no header"),
    ("io-table-duplicate-ids", b"F1 I1 1\nF2 I1 2\n", r"pheno\.txt repeats sample IDs"),
    ("io-table-empty", b"", r"pheno\.txt is empty"),
    ("io-table-ragged", b"F1 I1 1 2\nF2 I2 2\nF3 I3 1 2 3\n", r"pheno\.txt line 2 has 3 fields"),
    ("io-table-non-numeric", b"F1 I1 1\nF2 I2 x\n", r"non-numeric value 'x'"),
    ("io-table-infinite", b"F1 I1 1\nF2 I2 -inf\n", r"line 2 has the infinite value '-inf'"),
    ("io-table-overflowing", b"F1 I1 1e999\nF2 I2 1\n", r"line 1 has the infinite value '1e999'"),
]


@pytest.mark.parametrize(
    ("content", "match"), [pytest.param(c[1], c[2], id=c[0]) for c in TABLE_CASES]
)
def test_io_table_damage_is_refused_naming_the_file(tmp_path, content, match):
    path = tmp_path / "nope.txt" if content is None else _table(tmp_path, content)
    with pytest.raises(InputError, match=match):
        read_sample_table(path, kind="phenotype")


def test_io_table_directory_is_refused(tmp_path):
    with pytest.raises(InputError, match="is a folder, not a file"):
        read_sample_table(tmp_path, kind="phenotype")


def _link_loop(path: Path) -> None:
    path.symlink_to(path)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        pytest.param(
            _link_loop, r"t\.txt cannot be read: Too many levels", id="io-table-link-loop"
        ),
        pytest.param(_fifo, r"t\.txt is not a regular file", id="io-table-fifo"),
    ],
)
def test_io_table_that_is_not_a_readable_file_is_refused(tmp_path, make, match):
    make(tmp_path / "t.txt")
    with pytest.raises(InputError, match=match):
        read_sample_table(tmp_path / "t.txt", kind="phenotype")


def test_io_table_values_and_missing_codes(tmp_path):
    path = _table(tmp_path, b"F1 I1 1.5 -9\nF2 I2 NA 2\nF3 I3 nan 3\n")
    table = read_sample_table(path, kind="phenotype")
    expected = pd.DataFrame(
        {"phenotype_1": [1.5, np.nan, np.nan], "phenotype_2": [np.nan, 2.0, 3.0]},
        index=pd.Index(["I1", "I2", "I3"]),
    )
    np.testing.assert_array_equal(table.to_numpy(), expected.to_numpy())
    assert list(table.index) == ["I1", "I2", "I3"]
    assert list(table.columns) == list(expected.columns)


def test_io_plink_fam_short_by_one_is_undetectable_by_size(tmp_path):
    """Documented limitation: .bed stores ⌈n/4⌉ bytes per variant, so a .fam that lacks
    fewer than 4 of the samples gives the same file size; the reader trusts the .fam."""
    prefix = _damage(tmp_path, ".fam", _drop_last_line)
    genotypes = read_plink(prefix)
    assert genotypes.shape == (N - 1, M)
    np.testing.assert_array_equal(genotypes.read(), DOSAGES.T[: N - 1])


def test_io_table_integer_values_are_floats(tmp_path):
    table = read_sample_table(_table(tmp_path, b"1.5 1.5 1\n2 2 3\n"), kind="phenotype")
    assert table["phenotype_1"].dtype == np.float64
    np.testing.assert_array_equal(table["phenotype_1"], [1.0, 3.0])
