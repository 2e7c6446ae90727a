"""Null calibration with families: LOCO LMM p-values uniform where linear regression fails."""

from __future__ import annotations

import numpy as np
import pytest

import kinmix
from kinmix.matfree import matfree_scan
from kinmix.simulate import simulate_families

#: Median of χ²₁.
CHI2_MEDIAN = 0.454936423119572


@pytest.fixture(scope="module")
def null_scan():
    """1,000 people (150 families of 2 + 4, 100 unrelated); 8 chromosomes, effects on 1–4.

    Chromosomes 5–8 carry 24,000 null variants; the kinship uses 500 variants of each
    chromosome (``model``), every variant is tested, δ by Monte-Carlo REML per chromosome.
    """
    per_causal, per_null = 500, 6000
    sizes = [per_causal] * 4 + [per_null] * 4
    cohort = simulate_families(families=150, children=4, unrelated=100, variants=sum(sizes),
                      chromosomes=8, h2=0.8, seed=5)
    chromosomes = np.repeat(np.arange(1, 9), sizes).astype(str)
    rank = np.concatenate([np.arange(s) for s in sizes])
    # The simulator's labels split variants evenly; relabel so that the first 2,000 are
    # the causal chromosomes 1–4 and the rest null chromosomes 5–8.
    causal = np.arange(sum(sizes)) < 4 * per_causal
    y = _trait(cohort.dosages[:, causal], h2=0.8, seed=6)
    table = matfree_scan(cohort.dosages, y, chromosomes=chromosomes, model=rank < per_causal,
                         refine_error=None)
    null = ~causal
    ols = kinmix.scan(cohort.dosages[:, null], y)
    return table[null], ols


def _trait(G, *, h2, seed):
    rng = np.random.default_rng(seed)
    Z = (G - G.mean(axis=0)) / G.std(axis=0)
    genetic = Z @ rng.standard_normal(Z.shape[1])
    genetic /= genetic.std()
    return np.sqrt(h2) * genetic + np.sqrt(1 - h2) * rng.standard_normal(G.shape[0])


def test_null__lambda_gc_near_one(null_scan):
    table, _ = null_scan
    lam = np.nanmedian(table["chi2"]) / CHI2_MEDIAN
    assert 0.95 <= lam <= 1.05


def test_null__share_of_small_p_values(null_scan):
    table, _ = null_scan
    p = table["pvalue"].dropna().to_numpy()
    assert p.size >= 23_000
    assert 0.0004 <= np.mean(p < 1e-3) <= 0.0016


def test_null__linear_regression_is_inflated(null_scan):
    _, ols = null_scan
    assert np.nanmedian(ols["chi2"]) / CHI2_MEDIAN > 1.2
