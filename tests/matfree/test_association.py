"""Calibration constant, its jackknife SE, and the LRT form of the statistics."""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from kinmix.matfree.association import (
    calibrated_error,
    calibration_constant,
    calibration_scatter,
    refine_targets,
    statistics,
)


def test_calibration_constant__exact_multiple_has_zero_jackknife_se():
    proxy = np.array([1.0, 2.0, 5.0, 0.5])
    kappa, se = calibration_constant(1.7 * proxy, proxy)
    assert kappa == np.float64(1.7) or abs(kappa - 1.7) < 1e-15
    assert se < 1e-14


def test_calibration_constant__jackknife_matches_its_definition():
    rng = np.random.default_rng(0)
    exact, proxy = rng.uniform(1, 2, 30), rng.uniform(1, 2, 30)
    kappa, se = calibration_constant(exact, proxy)
    assert kappa == exact.sum() / proxy.sum()
    loo = [np.delete(exact, i).sum() / np.delete(proxy, i).sum() for i in range(30)]
    expected = np.sqrt(29 / 30 * np.sum((np.array(loo) - np.mean(loo)) ** 2))
    assert abs(se - expected) < 1e-15
    assert np.isnan(calibration_constant(exact[:1], proxy[:1])[1])


def test_statistics__lrt_form_and_se():
    n, rss0 = 100, 80.0
    num, den = np.array([3.0, -1.0]), np.array([2.0, 4.0])
    out = statistics(num, den, rss0, n)
    rss1 = rss0 - num**2 / den
    np.testing.assert_allclose(out.chi2, n * np.log(rss0 / rss1), rtol=1e-12)
    np.testing.assert_allclose(out.pvalue, chi2.sf(out.chi2, 1), rtol=1e-14)
    np.testing.assert_allclose(out.beta, num / den)
    np.testing.assert_allclose(out.se, np.sqrt(rss1 / n / den), rtol=1e-14)


def test_statistics__calibrated_overshoot_is_infinite():
    out = statistics(np.array([10.0]), np.array([1.0]), 50.0, 100)
    assert np.isinf(out.chi2[0]) and out.pvalue[0] == 0.0


def test_calibration_scatter__pooled_relative_sd_about_each_group_mean():
    rng = np.random.default_rng(1)
    groups = np.repeat([0, 1, 2], [30, 25, 1])
    ratios = np.where(groups == 0, 0.9, 1.2) * (1 + 0.013 * rng.standard_normal(56))
    scatter = calibration_scatter(ratios, groups)
    residuals = np.concatenate([ratios[groups == g] / ratios[groups == g].mean() - 1
                                for g in range(3)])
    assert abs(scatter - np.sqrt(np.sum(residuals**2) / (56 - 3))) < 1e-15
    assert 0.010 < scatter < 0.016  # the 1.3 % it was drawn with, within 3 SE of an SD of 53
    assert np.isnan(calibration_scatter(np.array([1.0, 2.0]), np.array([0, 1])))


def test_calibrated_error__is_the_p_value_change_of_a_denominator_off_by_four_sds():
    """Against the LRT statistics recomputed with exact denominators D/(1 ± 4σ)."""
    n, rss0, scatter = 2000, 1500.0, 0.012
    num, den = np.array([0.5, 3.0, 8.0, 12.0]), np.array([1.0, 1.0, 1.0, 1.0])
    calibrated = statistics(num, den, rss0, n)
    bound = calibrated_error(calibrated.chi2, n, scatter)
    changes = []
    for sign in (-1, 1):
        exact = statistics(num, den / (1 + sign * 4 * scatter), rss0, n)
        changes.append(np.abs(np.log10(exact.pvalue) - np.log10(calibrated.pvalue)))
    np.testing.assert_allclose(bound, np.maximum(*changes), rtol=1e-9)
    # −log10 p moves by about 0.22 χ² ε: the rule of thumb behind the default refine_error
    strong = calibrated.chi2 > 30
    np.testing.assert_allclose(bound[strong], 0.22 * calibrated.chi2[strong] * 4 * scatter,
                               rtol=0.1)
    assert np.isnan(calibrated_error(np.array([np.nan]), n, scatter)[0])
    assert np.isnan(calibrated_error(calibrated.chi2, n, float("nan"))).all()


def test_refine_targets__p_rule_error_rule_and_cap_by_smallest_p():
    pvalue = np.array([0.5, 1e-7, 1e-3, np.nan, 1e-5, 1e-8])
    error = np.array([0.01, 0.3, 0.2, np.nan, 0.12, 0.4])
    assert refine_targets(pvalue, error, refine_pvalue=1e-6, refine_error=None,
                          max_refine=None).tolist() == [1, 5]
    assert refine_targets(pvalue, error, refine_pvalue=1e-6, refine_error=0.15,
                          max_refine=None).tolist() == [1, 2, 5]
    assert refine_targets(pvalue, error, refine_pvalue=1e-6, refine_error=0.1,
                          max_refine=3).tolist() == [1, 4, 5]
