"""GenotypeGRM against dense kinships built with kinmix.grm."""

from __future__ import annotations

import numpy as np
import pytest

import kinmix
from kinmix.matfree import GenotypeGRM
from kinmix.matfree.operator import WHOLE_GENOME, PairwiseSum, _tree_sum, encode
from kinmix.simulate import simulate_families


@pytest.fixture(scope="module")
def cohort():
    return simulate_families(
        families=20, children=2, unrelated=40, variants=300, chromosomes=3, h2=0.5,
        missing=0.02, seed=3,
    )


@pytest.mark.parametrize(("precision", "rtol"), [("float64", 1e-12), ("float32", 2e-5)])
def test_product__matches_dense_loco_kinships(cohort, precision, rtol):
    op = GenotypeGRM.from_genotypes(
        cohort.dosages, cohort.chromosomes, block_size=37, precision=precision
    )
    rng = np.random.default_rng(0)
    groups = np.array([WHOLE_GENOME, 0, 1, 2, 1])
    V = rng.standard_normal((op.n, groups.size))
    got = op.product(V, groups)
    for k, g in enumerate(groups):
        keep = np.ones(op.m, bool) if g == WHOLE_GENOME else cohort.chromosomes != op.groups[g]
        K = kinmix.grm(cohort.dosages[:, keep])
        np.testing.assert_allclose(got[:, k], K @ V[:, k], rtol=rtol, atol=rtol)


def test_product__inactive_columns_are_zero(cohort):
    op = GenotypeGRM.from_genotypes(cohort.dosages, cohort.chromosomes, precision="float64")
    V = np.ones((op.n, 3))
    out = op.product(V, np.array([0, 1, 2]), active=np.array([True, False, True]))
    assert np.all(out[:, 1] == 0) and np.all(np.abs(out[:, [0, 2]]).sum(axis=0) > 0)


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_product__decoded_cache_gives_the_same_bits_and_keeps_to_its_cap(cohort, precision):
    rng = np.random.default_rng(4)
    groups = np.array([WHOLE_GENOME, 0, 1, 2])
    V = rng.standard_normal((cohort.dosages.shape[0], groups.size))
    results = {}
    some = 3.5 * V.shape[0] * 37 * np.dtype(precision).itemsize / 2**30  # a few blocks
    for gib in (0.0, 2.0, some):  # no cache, everything cached, room for a few blocks
        op = GenotypeGRM.from_genotypes(cohort.dosages, cohort.chromosomes, block_size=37,
                                        precision=precision, cache_gib=gib)
        first = op.product(V, groups)
        again = op.product(V, groups)  # from the cache where the blocks were kept
        np.testing.assert_array_equal(first, again)
        held = sum(Z.nbytes for Z in op._decoded.values())
        assert held <= gib * 2**30
        results[gib] = (first, len(op._decoded))
    np.testing.assert_array_equal(results[2.0][0], results[0.0][0])
    np.testing.assert_array_equal(results[some][0], results[0.0][0])
    blocks = len(GenotypeGRM.from_genotypes(cohort.dosages, cohort.chromosomes,
                                            block_size=37).blocks)
    assert results[0.0][1] == 0 and results[2.0][1] == blocks
    assert 0 < results[some][1] < blocks


def test_model_mask__only_model_variants_build_the_kinship(cohort):
    model = np.arange(cohort.dosages.shape[1]) % 3 != 0
    op = GenotypeGRM.from_genotypes(
        cohort.dosages, cohort.chromosomes, model=model, precision="float64"
    )
    v = np.random.default_rng(1).standard_normal((op.n, 1))
    K = kinmix.grm(cohort.dosages[:, model])
    np.testing.assert_allclose(op.product(v, np.array([WHOLE_GENOME])), K @ v, rtol=1e-12)


def test_genetic_draws__are_standardised_genotypes_times_normal_effects(cohort):
    op = GenotypeGRM.from_genotypes(
        cohort.dosages, cohort.chromosomes, block_size=50, precision="float64"
    )
    groups = np.array([0, WHOLE_GENOME])
    draws = op.genetic_draws(groups, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    U = np.vstack([rng.standard_normal((b.stop - b.start, 2)) for b in op.blocks])
    Gs = cohort.dosages[:, op.order]
    mean = np.nanmean(Gs, axis=0)
    Zfull = np.where(np.isnan(Gs), 0.0, Gs - mean)
    sd = np.sqrt((Zfull**2).mean(axis=0))
    Zfull = Zfull / np.where(sd > 0, sd, np.inf)
    off0 = np.asarray(cohort.chromosomes)[op.order] != op.groups[0]
    expect0 = Zfull[:, off0] @ U[off0, 0] / np.sqrt(op.loco_counts(np.array([0]))[0])
    expect1 = Zfull @ U[:, 1] / np.sqrt(op.counts.sum())
    np.testing.assert_allclose(draws[:, 0], expect0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(draws[:, 1], expect1, rtol=1e-12, atol=1e-12)


def test_encode__keeps_missing_and_kinmix_standardisation():
    G = np.array([[0, 2, 1], [1, np.nan, 1], [2, 0, 1], [np.nan, 2, 1]], dtype=float)
    codes, mean, inv_sd, observed = encode(G)
    assert codes.dtype == np.int8 and codes[1, 1] == -1 and codes[3, 0] == -1
    np.testing.assert_allclose(mean, [1.0, 4 / 3, 1.0])
    np.testing.assert_array_equal(observed, [3, 3, 4])
    sd0 = np.sqrt(((0 - 1) ** 2 + 0 + (2 - 1) ** 2) / 4)
    sd1 = np.sqrt(((2 - 4 / 3) ** 2 * 2 + (0 - 4 / 3) ** 2) / 4)  # over all n, imputed = 0
    np.testing.assert_allclose(inv_sd[:2], [1 / sd0, 1 / sd1])
    assert inv_sd[2] == 0


def test_encode__refuses_fractional_dosages():
    with pytest.raises(kinmix.InputError, match="hard calls 0, 1 or 2"):
        encode(np.array([[0.5, 1.0], [1.0, 2.0]]))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"chromosomes": ["1"]}, "one label per variant"),
        ({"model": [True]}, "one flag per variant"),
        ({"block_size": 0}, "block_size must be a positive integer"),
        ({"precision": "float16"}, "precision must be"),
        ({"cache_gib": -1}, "cache_gib must be"),
    ],
)
def test_from_genotypes__rejects_bad_arguments(kwargs, match):
    G = np.array([[0, 1], [1, 2], [2, 0]], dtype=float)
    args = {"chromosomes": ["1", "2"], **kwargs}
    with pytest.raises(kinmix.InputError, match=match):
        GenotypeGRM.from_genotypes(G, **args)


def test_from_genotypes__needs_a_variant_with_variance():
    with pytest.raises(kinmix.InputError, match="no model variant has non-zero variance"):
        GenotypeGRM.from_genotypes(np.ones((4, 2)), ["1", "2"])


def test_from_genotypes__needs_two_dimensional_input():
    with pytest.raises(kinmix.InputError, match="two-dimensional"):
        GenotypeGRM.from_genotypes(np.ones(4), ["1"])


def test_loco_counts__refuses_a_single_chromosome():
    G = np.array([[0, 1], [1, 2], [2, 0]], dtype=float)
    op = GenotypeGRM.from_genotypes(G, ["1", "1"])
    with pytest.raises(kinmix.InputError, match="at least two chromosomes"):
        op.loco_counts(np.array([0]))


def test_pairwise_sum__adds_in_the_dask_tree_order_bit_for_bit():
    """Parts spanning 12 orders of magnitude, so that any other grouping of the additions
    changes the last bits (the sequential sum differs for most counts: the check can fail)."""
    rng = np.random.default_rng(5)
    differs_from_sequential = 0
    for count in range(1, 41):
        parts = [rng.standard_normal(64) * 10.0 ** rng.integers(-6, 6) for _ in range(count)]
        streaming = PairwiseSum()
        for part in parts:
            streaming.add(part)
        assert np.array_equal(streaming.total(), _tree_sum(list(parts)))
        sequential = np.zeros(64)
        for part in parts:
            sequential += part
        differs_from_sequential += not np.array_equal(sequential, _tree_sum(list(parts)))
    assert differs_from_sequential >= 30
    assert PairwiseSum().total() is None
