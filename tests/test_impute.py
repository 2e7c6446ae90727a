"""The one mean-imputation routine."""

from __future__ import annotations

import numpy as np
import pytest

from kinmix import InputError
from kinmix.impute import mean_impute


def test_mean_impute__fills_each_column_with_its_observed_mean():
    G = np.array(
        [[0.0, 1.0, np.nan], [np.nan, 2.0, np.nan], [2.0, 2.0, np.nan], [1.0, 1.0, np.nan]]
    )
    result = mean_impute(G)
    assert result.nobs.tolist() == [3, 4, 0]
    np.testing.assert_array_equal(result.mean, [1.0, 1.5, 0.0])
    np.testing.assert_array_equal(G[:, 0], [0.0, 1.0, 2.0, 1.0])
    np.testing.assert_array_equal(G[:, 1], [1.0, 2.0, 2.0, 1.0])
    np.testing.assert_array_equal(G[:, 2], 0.0)


def test_mean_impute__keeps_the_mean_and_matches_nanmean_bit_for_bit():
    rng = np.random.default_rng(3)
    G = rng.binomial(2, 0.3, size=(57, 40)).astype(float)
    G[rng.random(G.shape) < 0.2] = np.nan
    expected = np.nanmean(G, axis=0)
    result = mean_impute(G)
    np.testing.assert_array_equal(result.mean, expected)
    assert not np.isnan(G).any()
    np.testing.assert_allclose(G.mean(axis=0), expected, rtol=1e-14)


def test_mean_impute__given_means_and_an_empty_value():
    G = np.array([[np.nan, np.nan], [4.0, np.nan]])
    result = mean_impute(G, mean=np.array([7.0, 9.0]))
    np.testing.assert_array_equal(G, [[7.0, 9.0], [4.0, 9.0]])
    assert result.nobs.tolist() == [1, 0]
    H = np.array([[np.nan, 1.0], [np.nan, 3.0]])
    result = mean_impute(H, empty=np.nan)
    assert np.isnan(result.mean[0]) and result.mean[1] == 2.0
    assert np.isnan(H[:, 0]).all()


def test_mean_impute__refuses_infinite_dosages():
    with pytest.raises(InputError, match="G contains infinite values"):
        mean_impute(np.array([[0.0, -np.inf], [1.0, 2.0]]))


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("share", [0.0, 0.05, 1.0])
def test_mean_impute__sums_are_nansum_in_either_layout(order, share):
    # The means are nansum / count bit for bit, whatever the memory layout and whether no,
    # some or every column misses a dosage; infinite values among NaNs are still refused.
    rng = np.random.default_rng(11)
    G = np.asarray(rng.binomial(2, 0.4, size=(301, 23)).astype(float), order=order)
    G[rng.random(G.shape) < share * 0.1] = np.nan
    if share == 1.0:
        G[0] = np.nan
    original = G.copy(order="K")
    nobs = (~np.isnan(original)).sum(axis=0)
    expected = np.nansum(original, axis=0) / nobs
    result = mean_impute(G)
    np.testing.assert_array_equal(result.mean, expected)
    np.testing.assert_array_equal(result.nobs, nobs)
    observed = ~np.isnan(original)
    np.testing.assert_array_equal(G[observed], original[observed])
    np.testing.assert_array_equal(G, np.where(observed, original, expected))
    original[5, 3] = np.inf
    with pytest.raises(InputError, match="infinite"):
        mean_impute(original)
