"""The matrix-free LOCO scan against kinmix's exact LOCO scan at the same δ."""

from __future__ import annotations

import numpy as np
import pytest

import kinmix
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


def test_calibration_scatter__estimates_the_scatter_of_every_variant(small):
    """The SD measured on 3 × 30 calibration variants against the SD of exact / calibrated
    denominators of all 600 variants (dense P per chromosome): within 30 % (an SD from
    87 degrees of freedom has a relative SE of 7.6 %)."""
    cohort, _, deltas = small
    table = matfree_scan(cohort.dosages, cohort.trait, chromosomes=cohort.chromosomes,
                         delta=deltas, refine_pvalue=0.0, refine_error=None)
    G, n = cohort.dosages, cohort.dosages.shape[0]
    ratios = []
    for chrom, delta in deltas.items():
        on = cohort.chromosomes == chrom
        V = (1 - delta) * kinmix.grm(G[:, ~on]) + delta * np.eye(n)
        Vinv = np.linalg.inv(V)
        P = Vinv - np.outer(Vinv.sum(axis=1), Vinv.sum(axis=0)) / Vinv.sum()
        D = G[:, on] - np.nanmean(G[:, on], axis=0)
        D = np.where(np.isnan(D), 0.0, D)
        exact = np.einsum("nm,nm->m", D, P @ D)
        Py = P @ cohort.trait
        proxy = np.einsum("nm,nm->m", D, D) * (Py @ Py) / (cohort.trait @ Py)
        ratios.append(exact / proxy / np.mean(exact / proxy) - 1)
    truth = np.std(np.concatenate(ratios))
    assert 0.005 < truth < 0.05
    assert abs(table.attrs["matfree"]["scatter"] / truth - 1) <= 0.3


def test_calibrated_mode__within_four_percent_of_the_exact_chi2(larger):
    cohort, reference, deltas = larger
    table = matfree_scan(cohort.dosages, cohort.trait, chromosomes=cohort.chromosomes,
                         delta=deltas,
                         refine_pvalue=0.0, refine_error=None)
    assert (table["denominator"].dropna() == "calibrated").all()
    strong = reference["chi2"].to_numpy() > 10
    assert strong.sum() >= 20
    ratio = table["chi2"].to_numpy()[strong] / reference["chi2"].to_numpy()[strong]
    assert 0.96 <= ratio.min() and ratio.max() <= 1.04
    info = table.attrs["matfree"]
    for chrom, kappa in info["calibration"].items():
        assert 0 < info["calibration_se"][chrom] < 0.02 * kappa


def test_default_mode__within_0_1_in_minus_log10_p(larger):
    """Calibrated denominators where the scatter bound allows (all but the strong variants),
    exact ones above: every p-value within refine_error = 0.1 of the exact scan, where the
    calibrated mode alone misses by up to 0.16 (χ² ≈ 30 with a 2.5 % denominator error)."""
    cohort, reference, deltas = larger
    table = matfree_scan(cohort.dosages, cohort.trait, chromosomes=cohort.chromosomes,
                         delta=deltas)
    calibrated = (table["denominator"] == "calibrated").to_numpy()
    assert calibrated.sum() >= 0.9 * len(table)  # 49 of the 800 have an exact χ² > 10
    assert table.attrs["matfree"]["unrefined_error"] <= 0.1
    dlogp = np.abs(minus_log10(table["pvalue"]) - minus_log10(reference["pvalue"]))
    assert np.nanmax(dlogp) <= 0.1
    assert np.nanmax(dlogp[~calibrated]) <= 1e-4
    alone = matfree_scan(cohort.dosages, cohort.trait, chromosomes=cohort.chromosomes,
                         delta=deltas, refine_pvalue=0.0, refine_error=None)
    dlogp_alone = np.abs(minus_log10(alone["pvalue"]) - minus_log10(reference["pvalue"]))
    assert np.nanmax(dlogp_alone) > 0.1  # so the refine rule is what keeps the bound


def test_default_refine__makes_the_hits_exact(larger):
    cohort, reference, deltas = larger
    table = matfree_scan(cohort.dosages, cohort.trait, chromosomes=cohort.chromosomes,
                         delta=deltas,
                         refine_pvalue=1e-4, max_refine=5)
    exact = (table["denominator"] == "exact").to_numpy()
    assert exact.sum() == 5
    assert table["pvalue"][exact].max() <= np.sort(table["pvalue"][~exact])[0] * 10
    np.testing.assert_allclose(table["chi2"][exact], reference["chi2"][exact], rtol=1e-8)
