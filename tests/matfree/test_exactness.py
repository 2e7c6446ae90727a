"""The matrix-free LOCO scan against kinmix's exact LOCO scan at the same δ."""

from __future__ import annotations

import numpy as np
import pytest

from kinmix.matfree import matfree_scan
from kinmix.simulate import simulate_families

from ._exact import exact_loco, minus_log10


@pytest.fixture(scope="module")
def small():
    """800 people (100 families of 2 + 3, 300 unrelated), 600 variants on 3 chromosomes."""
    cohort = simulate_families(families=100, children=3, unrelated=300, variants=600,
                               chromosomes=3,
                      h2=0.6, missing=0.01, seed=11)
    return cohort, *exact_loco(cohort.dosages, cohort.chromosomes, cohort.trait)


@pytest.fixture(scope="module")
def larger():
    """2,000 people (250 families of 2 + 2, 1,000 unrelated), 800 variants, 2 chromosomes."""
    cohort = simulate_families(families=250, children=2, unrelated=1000, variants=800,
                               chromosomes=2,
                      h2=0.6, missing=0.01, seed=12)
    return cohort, *exact_loco(cohort.dosages, cohort.chromosomes, cohort.trait)


def test_exact_refine_of_every_variant__reproduces_the_exact_scan(small):
    cohort, reference, deltas = small
    table = matfree_scan(cohort.dosages, cohort.trait, chromosomes=cohort.chromosomes,
                         delta=deltas,
                         refine_pvalue=1.0, max_refine=None, block_size=128)
    tested = reference["reason"].isna().to_numpy()
    assert (table["denominator"][tested] == "exact").all()
    assert table["reason"].isna().to_numpy().tolist() == tested.tolist()
    dchi2 = np.abs(table["chi2"] - reference["chi2"].to_numpy())[tested]
    dlogp = np.abs(minus_log10(table["pvalue"]) - minus_log10(reference["pvalue"]))[tested]
    assert dchi2.max() <= 1e-5
    assert dlogp.max() <= 1e-4
    for column, rtol in (("beta", 1e-7), ("se", 1e-7), ("scale", 1e-9), ("af", 1e-12)):
        np.testing.assert_allclose(table[column][tested], reference[column][tested], rtol=rtol)
    np.testing.assert_array_equal(table["n"], reference["n"])


def test_calibrated_mode__within_four_percent_of_the_exact_chi2(larger):
    cohort, reference, deltas = larger
    table = matfree_scan(cohort.dosages, cohort.trait, chromosomes=cohort.chromosomes,
                         delta=deltas,
                         refine_pvalue=0.0)
    assert (table["denominator"].dropna() == "calibrated").all()
    strong = reference["chi2"].to_numpy() > 10
    assert strong.sum() >= 20
    ratio = table["chi2"].to_numpy()[strong] / reference["chi2"].to_numpy()[strong]
    assert 0.96 <= ratio.min() and ratio.max() <= 1.04
    info = table.attrs["matfree"]
    for chrom, kappa in info["calibration"].items():
        assert 0 < info["calibration_se"][chrom] < 0.02 * kappa


def test_default_mode__within_0_15_in_minus_log10_p(larger):
    """Calibrated denominators for p ≥ 1e-6 (every variant here but the strongest)."""
    cohort, reference, deltas = larger
    table = matfree_scan(cohort.dosages, cohort.trait, chromosomes=cohort.chromosomes,
                         delta=deltas)
    assert (table["denominator"] == "calibrated").sum() >= 0.99 * len(table)
    dlogp = np.abs(minus_log10(table["pvalue"]) - minus_log10(reference["pvalue"]))
    assert np.nanmax(dlogp) <= 0.15


def test_default_refine__makes_the_hits_exact(larger):
    cohort, reference, deltas = larger
    table = matfree_scan(cohort.dosages, cohort.trait, chromosomes=cohort.chromosomes,
                         delta=deltas,
                         refine_pvalue=1e-4, max_refine=5)
    exact = (table["denominator"] == "exact").to_numpy()
    assert exact.sum() == 5
    assert table["pvalue"][exact].max() <= np.sort(table["pvalue"][~exact])[0] * 10
    np.testing.assert_allclose(table["chi2"][exact], reference["chi2"][exact], rtol=1e-8)
