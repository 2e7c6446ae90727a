"""PLINK reading through bed-reader, and sample tables aligned by ID."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from kinmix import InputError
from kinmix.io.plink import read_plink
from kinmix.io.tables import align_samples, read_sample_table

SYNTH = Path(__file__).resolve().parents[2] / "src" / "kinmix" / "data" / "synth"


def test_read_plink__bundled_cohort_shapes_and_blocks():
    genotypes = read_plink(SYNTH / "all.bed")
    assert genotypes.shape == (500, 5000)
    assert list(genotypes.variants.columns) == ["chrom", "variant", "cm", "pos", "a1", "a2"]
    block = genotypes.read(slice(10, 20))
    assert block.shape == (500, 10) and set(np.unique(block[~np.isnan(block)])) <= {0, 1, 2}
    flipped = read_plink(SYNTH / "all", count_a1=False).read(slice(10, 20))
    np.testing.assert_array_equal(block, 2 - flipped)


def test_read_plink__missing_and_corrupt_files(tmp_path):
    with pytest.raises(InputError, match="all.fam does not exist"):
        shutil.copy(SYNTH / "all.bed", tmp_path / "all.bed")
        shutil.copy(SYNTH / "all.bim", tmp_path / "all.bim")
        read_plink(tmp_path / "all")
    shutil.copy(SYNTH / "all.fam", tmp_path / "all.fam")
    (tmp_path / "all.bed").write_bytes(b"not a bed file")
    with pytest.raises(InputError, match="could not be opened|could not read"):
        read_plink(tmp_path / "all").read(slice(0, 5))


def test_sample_table__aligned_by_id_with_clear_errors(tmp_path):
    table = read_sample_table(SYNTH / "pheno_10_causals.txt", name="phenotype")
    samples = read_plink(SYNTH / "all").samples["iid"]
    values = align_samples(samples[::-1], table, name="phenotype")
    assert values.shape == (500, 1)
    assert values[0, 0] == table.loc[samples.iloc[-1], "phenotype_1"]
    with pytest.raises(InputError, match="phenotype has no row for 1 of the 2 samples"):
        align_samples(["cid0P0", "nobody"], table, name="phenotype")
    bad = tmp_path / "pheno.txt"
    bad.write_text("f1 a 1.0\nf2 b -9\nf3 a 2.0\n")
    with pytest.raises(InputError, match="repeats sample IDs"):
        read_sample_table(bad)
    bad.write_text("f1 a 1.0\nf2 b -9\n")
    with pytest.raises(InputError, match="missing values for 1 samples"):
        align_samples(["a", "b"], read_sample_table(bad))
    bad.write_text("f1 a\n")
    with pytest.raises(InputError, match="needs FID, IID and at least one value"):
        read_sample_table(bad)
    with pytest.raises(InputError, match="does not exist"):
        read_sample_table(tmp_path / "absent.txt")
