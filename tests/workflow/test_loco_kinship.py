"""One-pass kinship and its leave-one-chromosome-out versions (kinmix.grm.StreamedKinship)."""

from __future__ import annotations

import numpy as np
import pytest

from kinmix import InputError
from kinmix.grm import StreamedKinship, eigh_upper_in_place, grm, kinship_columns
from kinmix.io import open_genotypes


def _chromosome_blocks(genotypes, chrom, size, samples=None):
    index = np.flatnonzero(genotypes.variants["chrom"].astype(str) == chrom)

    def blocks():
        for start in range(0, index.shape[0], size):
            yield genotypes.read(index[start : start + size], samples=samples)

    return blocks


@pytest.mark.parametrize("kind", ["standardized", "centered"])
def test_one_pass_loco_kinships_equal_from_scratch_ones(small_cohort, kind):
    genotypes = open_genotypes(bfile=small_cohort.prefix)
    G, chrom = small_cohort.dosages, small_cohort.chrom
    kin = StreamedKinship.from_genotypes(genotypes, kind=kind, block_size=7, low_rank=False)
    assert kin.counts == {"1": 40, "2": 40, "3": 40} and not kin.low_rank
    np.testing.assert_allclose(kin.matrix(), grm(G, kind=kind), rtol=0, atol=1e-12)
    # the last chromosome's Gram is kept from the pass; the others come from their blocks
    assert list(kin.kept) == ["3"]
    for c in ["3", "1", "2"]:
        blocks = _chromosome_blocks(genotypes, c, 11)
        loco = kin.loco_matrix(c, blocks)
        np.testing.assert_allclose(loco, grm(G[:, chrom != c], kind=kind), rtol=0, atol=1e-12)
    assert not kin.kept


@pytest.mark.parametrize("kind", ["standardized", "centered"])
def test_kinship_written_to_a_folder_gives_the_same_loco_kinships(small_cohort, tmp_path, kind):
    genotypes = open_genotypes(bfile=small_cohort.prefix)
    G, chrom = small_cohort.dosages, small_cohort.chrom
    kin = StreamedKinship.from_genotypes(
        genotypes, kind=kind, block_size=7, low_rank=False, folder=tmp_path
    )
    # nothing n×n stays in memory: S and every S_c are files
    assert kin.gram is None and not kin.kept
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "gram-0000.npy", "gram-0001.npy", "gram-0002.npy", "gram.npy"
    ]
    np.testing.assert_allclose(kin.matrix(), grm(G, kind=kind), rtol=0, atol=1e-12)
    for c in ["2", "1", "3", "2"]:  # read, not consumed: asking twice gives it twice
        loco = kin.loco_matrix(c)
        np.testing.assert_allclose(loco, grm(G[:, chrom != c], kind=kind), rtol=0, atol=1e-12)
    (Q0, _), S0 = kin.loco_qs("1")
    np.testing.assert_allclose((Q0 * S0) @ Q0.T, grm(G[:, chrom != "1"], kind=kind), atol=1e-12)


def test_a_damaged_kinship_file_is_named(small_cohort, tmp_path):
    genotypes = open_genotypes(bfile=small_cohort.prefix)
    kin = StreamedKinship.from_genotypes(genotypes, block_size=7, low_rank=False, folder=tmp_path)
    data = (tmp_path / "gram-0001.npy").read_bytes()
    (tmp_path / "gram-0001.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="gram-0001.npy is truncated"):
        kin.loco_matrix("2")
    np.save(tmp_path / "gram.npy", np.zeros((3, 3)))
    with pytest.raises(InputError, match="gram.npy does not hold the expected 70×70"):
        kin.matrix()


def test_low_rank_path_keeps_the_factor_and_no_n_by_n_matrix(small_cohort):
    genotypes = open_genotypes(bfile=small_cohort.prefix)
    rows = np.arange(0, 70)
    kin = StreamedKinship.from_genotypes(genotypes, samples=rows, block_size=16, low_rank=True)
    assert kin.low_rank and kin.gram is None and kin.factor.shape == (70, 120)
    G, chrom = small_cohort.dosages, small_cohort.chrom
    for c in ["1", "2", "3"]:
        (Q0, _), S0 = kin.loco_qs(c)
        assert Q0.shape[1] <= 80
        np.testing.assert_allclose((Q0 * S0) @ Q0.T, grm(G[:, chrom != c]), atol=1e-12)


def test_low_rank_is_the_default_with_fewer_variants_than_samples(small_cohort, tmp_path):
    genotypes = open_genotypes(bfile=small_cohort.prefix)
    assert StreamedKinship.from_genotypes(genotypes, samples=np.arange(70)).low_rank is False
    few = StreamedKinship.from_genotypes(genotypes, samples=np.arange(70), low_rank=None)
    assert few.low_rank == (120 < 70)


def test_centered_kind_is_gemmas_centred_cross_product():
    rng = np.random.default_rng(3)
    G = rng.binomial(2, 0.3, size=(20, 30)).astype(float)
    G[2, 4] = np.nan
    filled = np.where(np.isnan(G), np.nanmean(G, axis=0), G)
    W = filled - filled.mean(0)
    np.testing.assert_allclose(grm(G, kind="centered"), W @ W.T / 30, atol=1e-13)


def test_kinship_filters_drop_rare_and_often_missing_variants():
    G = np.array(
        [
            [0.0, 0.0, 2.0, 1.0],
            [0.0, 1.0, np.nan, 1.0],
            [1.0, 0.0, np.nan, 2.0],
            [2.0, 0.0, 1.0, 0.0],
            [1.0, 0.0, 0.0, 1.0],
        ]
    )
    columns = kinship_columns(G, maf=0.15, max_missing=0.2)
    # column 1: MAF 0.1 < 0.15; column 2: 40% missing
    assert columns.keep.tolist() == [True, False, False, True]
    assert columns.Z.shape == (5, 2) and columns.Z.flags.f_contiguous


def test_eigh_in_place_matches_economic_qs():
    rng = np.random.default_rng(1)
    Z = rng.normal(size=(12, 5))
    K = Z @ Z.T
    (Q0, _), S0 = eigh_upper_in_place(np.triu(K).copy(order="F"))
    assert Q0.shape == (12, 5)
    np.testing.assert_allclose((Q0 * S0) @ Q0.T, K, atol=1e-12)
    with pytest.raises(InputError, match="not positive semi-definite"):
        eigh_upper_in_place(np.asfortranarray(-K))


def test_streamed_kinship_errors(small_cohort):
    genotypes = open_genotypes(bfile=small_cohort.prefix)
    with pytest.raises(InputError, match="kind must be one of"):
        StreamedKinship.from_genotypes(genotypes, kind="ibs")
    with pytest.raises(InputError, match=r"maf must lie in \[0, 0.5\]"):
        StreamedKinship.from_genotypes(genotypes, maf=0.7)
    with pytest.raises(InputError, match="no variant passes the kinship filters"):
        StreamedKinship.from_genotypes(genotypes, samples=np.array([0]))  # all constant
    with pytest.raises(InputError, match=r"max_missing must lie in \[0, 1\]"):
        StreamedKinship.from_genotypes(genotypes, max_missing=2.0)
    kin = StreamedKinship.from_genotypes(genotypes, low_rank=False)
    with pytest.raises(InputError, match="chromosome '7' is not in the kinship"):
        kin.loco_qs("7")
    with pytest.raises(InputError, match="the dosages of chromosome 1 are needed"):
        kin.loco_upper("1")
    with pytest.raises(InputError, match="chromosome 1 has 40 variants but 11 were given"):
        kin.loco_upper("1", lambda: iter([genotypes.read(np.arange(11))]))


def test_loco_needs_kinship_variants_off_the_chromosome(small_cohort):
    genotypes = open_genotypes(bfile=small_cohort.prefix)
    only_first = np.flatnonzero(small_cohort.chrom == "1")

    class FirstChromosome:
        path = genotypes.path
        samples = genotypes.samples
        variants = genotypes.variants.iloc[only_first].reset_index(drop=True)
        shape = (genotypes.shape[0], only_first.shape[0])

        def read(self, variants=slice(None), samples=None):
            return genotypes.read(only_first[variants], samples=samples)

    kin = StreamedKinship.from_genotypes(FirstChromosome(), low_rank=False)
    with pytest.raises(InputError, match="LOCO needs kinship variants outside chromosome 1"):
        kin.loco_qs("1")


def test_kinship_columns_rejects_non_matrices():
    with pytest.raises(InputError, match="G must be two-dimensional"):
        kinship_columns(np.ones(4))
    with pytest.raises(InputError, match="G contains infinite values"):
        kinship_columns(np.array([[0.0, np.inf], [1.0, 2.0]]))


def test_kinship_columns_in_place_equal_the_copying_ones():
    rng = np.random.default_rng(8)
    G = np.asfortranarray(rng.binomial(2, 0.3, size=(30, 12)).astype(float))
    G[[2, 7], [4, 9]] = np.nan
    copied = kinship_columns(G.copy(order="F"))
    owned = G.copy(order="F")
    in_place = kinship_columns(owned, overwrite=True)
    np.testing.assert_array_equal(in_place.Z, copied.Z)
    assert np.shares_memory(in_place.Z, owned)  # every column kept: Z is the block itself
    untouched = G.copy(order="F")
    kinship_columns(untouched)
    np.testing.assert_array_equal(untouched, G)
