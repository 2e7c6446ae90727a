"""PLINK 1 filesets through open_genotypes: block reads, count_a1, damaged files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from bed_reader import open_bed

from kinmix import InputError
from kinmix.io.genotypes import Genotypes, open_genotypes

SYNTH = Path(__file__).resolve().parents[2] / "src" / "kinmix" / "data" / "synth"


def copy_fileset(tmp_path, name="all"):
    for ext in (".bed", ".bim", ".fam"):
        shutil.copy(SYNTH / f"all{ext}", tmp_path / f"{name}{ext}")
    return tmp_path / name


@pytest.mark.parametrize("count_a1", [True, False])
def test_plink__blocks_equal_bed_reader_for_both_counted_alleles(count_a1):
    genotypes = open_genotypes(bfile=SYNTH / "all.bed", count_a1=count_a1)
    assert isinstance(genotypes, Genotypes)
    assert genotypes.shape == (500, 5000) and genotypes.path == SYNTH / "all.bed"
    reference = open_bed(SYNTH / "all.bed", count_A1=count_a1)
    columns = [3, 17, 4999, 2500]
    rows = np.array([5, 0, 499, 250])
    expected = reference.read(index=np.s_[:, columns], dtype="float64")
    block = genotypes.read(columns)
    np.testing.assert_array_equal(block, expected)
    assert block.flags.f_contiguous and block.dtype == np.float64
    np.testing.assert_array_equal(genotypes.read(columns, samples=rows), expected[rows])
    mask = np.zeros(5000, dtype=bool)
    mask[columns] = True
    np.testing.assert_array_equal(genotypes.read(mask), expected[:, np.argsort(columns)])
    np.testing.assert_array_equal(genotypes.read(slice(10, 12)),
                                  reference.read(index=np.s_[:, 10:12], dtype="float64"))
    counted, other = ((reference.allele_1, reference.allele_2) if count_a1
                      else (reference.allele_2, reference.allele_1))
    np.testing.assert_array_equal(genotypes.variants["a1"], counted)
    np.testing.assert_array_equal(genotypes.variants["a2"], other)
    assert list(genotypes.samples.columns) == ["fid", "iid"]
    assert list(genotypes.variants.columns[:2]) == ["chrom", "variant"]
    assert genotypes.variants["pos"].dtype == np.int64


def test_plink__counted_alleles_are_complementary():
    block = open_genotypes(bfile=SYNTH / "all").read(slice(0, 50))
    flipped = open_genotypes(bfile=SYNTH / "all", count_a1=False).read(slice(0, 50))
    np.testing.assert_array_equal(block, 2 - flipped)
    assert set(np.unique(block[~np.isnan(block)])) <= {0.0, 1.0, 2.0}


def test_plink__missing_truncated_and_mismatched_files(tmp_path):
    prefix = copy_fileset(tmp_path)
    (tmp_path / "all.fam").unlink()
    with pytest.raises(InputError, match=r"PLINK file .*all\.fam does not exist"):
        open_genotypes(bfile=prefix)
    prefix = copy_fileset(tmp_path)
    data = (tmp_path / "all.bed").read_bytes()
    (tmp_path / "all.bed").write_bytes(data[:-7])
    with pytest.raises(InputError, match=r"all\.bed is truncated: 624996 bytes, but all\.fam "
                       r"lists 500 samples and all\.bim 5000 variants, which need 625003"):
        open_genotypes(bfile=prefix)
    (tmp_path / "all.bed").write_bytes(data)
    bim = (tmp_path / "all.bim").read_text().splitlines(keepends=True)
    (tmp_path / "all.bim").write_text("".join(bim[:-1]))
    with pytest.raises(InputError, match=r"all\.bed is longer than expected"):
        open_genotypes(bfile=prefix)
    (tmp_path / "all.bim").write_text("".join(bim))
    fam = (tmp_path / "all.fam").read_text().splitlines(keepends=True)
    (tmp_path / "all.fam").write_text("".join(fam[:-3]))  # 497 samples still fill 125 bytes
    assert open_genotypes(bfile=prefix).shape == (497, 5000)
    (tmp_path / "all.fam").write_text("".join(fam[:-4]))
    with pytest.raises(InputError, match=r"all\.bed is longer than expected.*all\.fam lists 496"):
        open_genotypes(bfile=prefix)
    (tmp_path / "all.fam").write_text("")
    with pytest.raises(InputError, match=r"all\.fam lists no samples"):
        open_genotypes(bfile=prefix)
    (tmp_path / "all.fam").write_text("".join(fam))
    (tmp_path / "all.bim").write_text("\n")
    with pytest.raises(InputError, match=r"all\.bim lists no variants"):
        open_genotypes(bfile=prefix)
    (tmp_path / "all.bim").write_text("".join(bim))
    (tmp_path / "all.bed").write_bytes(b"\x6c\x1b\x00" + data[3:])
    with pytest.raises(InputError, match=r"is not a variant-major PLINK 1 \.bed file \(its first "
                       r"bytes are 6c1b00"):
        open_genotypes(bfile=prefix)
    (tmp_path / "all.bed").write_bytes(data)
    (tmp_path / "all.bim").write_text("".join(bim[:-1]) + "1 only-three-fields 0\n")
    with pytest.raises(InputError, match=r"could not be opened|has malformed lines"):
        open_genotypes(bfile=prefix).variants  # noqa: B018


def test_open_genotypes__argument_errors(tmp_path):
    with pytest.raises(InputError, match=r"exactly one of bfile=, bgen=, pgen=; got none"):
        open_genotypes()
    with pytest.raises(InputError, match=r"got \['bfile', 'bgen'\]"):
        open_genotypes(bfile="a", bgen="b")
    with pytest.raises(InputError, match=r"sample= \(an Oxford \.sample file\) only applies"):
        open_genotypes(bfile="a", sample="s")
    genotypes = open_genotypes(bfile=SYNTH / "all")
    with pytest.raises(InputError, match=r"boolean variant mask must have one entry per variant"):
        genotypes.read(np.ones(3, dtype=bool))
    with pytest.raises(InputError, match=r"variant positions must lie in \[0, 5000\)"):
        genotypes.read([5000])
    with pytest.raises(InputError, match="got dtype float64"):
        genotypes.read(np.array([1.0]))
    np.testing.assert_array_equal(genotypes.read(-1), genotypes.read([4999]))
