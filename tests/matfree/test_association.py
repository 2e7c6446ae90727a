"""Calibration constant, its jackknife SE, and the LRT form of the statistics."""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

from kinmix.matfree.association import calibration_constant, statistics


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
