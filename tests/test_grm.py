"""Kinship from genotypes."""

from __future__ import annotations

import numpy as np
import pytest

from kinmix import InputError
from kinmix.grm import grm, standardize


def test_grm__equals_standardised_cross_product():
    rng = np.random.default_rng(0)
    G = rng.binomial(2, 0.3, size=(30, 50)).astype(float)
    Z = (G - G.mean(0)) / G.std(0)
    np.testing.assert_allclose(grm(G, block_size=7), Z @ Z.T / 50, rtol=1e-12, atol=1e-14)
    assert abs(np.trace(grm(G)) / 30 - 1.0) < 1e-12


def test_grm__mean_imputes_and_skips_constant_variants():
    G = np.array([[0.0, 1.0, 2.0], [np.nan, 1.0, 0.0], [2.0, 1.0, 1.0], [2.0, 1.0, np.nan]])
    Z, keep = standardize(G)
    assert keep.tolist() == [True, False, True]
    np.testing.assert_allclose(Z.mean(0), 0.0, atol=1e-15)
    np.testing.assert_allclose((Z**2).mean(0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(grm(G), Z @ Z.T / 2, rtol=1e-12)


def test_grm__rejects_unusable_genotypes():
    with pytest.raises(InputError, match="no variant with non-zero variance"):
        grm(np.ones((5, 3)))
    with pytest.raises(InputError, match="G must be two-dimensional"):
        grm(np.ones(5))
    with pytest.raises(InputError, match="G contains infinite values"):
        grm(np.array([[0.0, np.inf], [1.0, 2.0]]))
