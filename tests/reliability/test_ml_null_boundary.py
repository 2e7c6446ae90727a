"""Catalogue: the ML null of a small sample with an intercept and a centred GRM.

A centred (or standardised) GRM has :math:`K\\mathbf 1 = 0`, so the intercept lies in the
null space of K. On that direction the covariance is :math:`s\\delta`, the intercept fits y
exactly there, and the ML log-likelihood grows like :math:`-\\tfrac12\\log\\delta` without a
maximum as δ → 0. kinmix searches :math:`\\log\\gamma` on GEMMA's range
:math:`\\gamma \\in [10^{-5}, 10^5]` (``kinmix.constants.GAMMA_BOUNDS``) and says, with a
:class:`kinmix.BoundaryWarning`, when the null stops on that bound and why. Before the bound
was GEMMA's (δ down to √ε ≈ 1.5e-8) such a null weighted the intercept's direction by
1/δ ≈ 7e7, and variants whose centred part is small next to their mean were reported
"collinear with covariates" — the case ``scan-ml-null-centred-grm-refit-delta``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import kinmix
from kinmix import LMM, BoundaryWarning, economic_qs
from kinmix.constants import DELTA_BOUNDS, GAMMA_BOUNDS
from kinmix.grm import grm

from ._data import dense_lml


def _cohort(n: int = 70, m: int = 120, seed: int = 0):
    """The CLI tests' small cohort: n samples, m variants, 1% missing, trait 'a'."""
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.1, 0.5, m)
    G = rng.binomial(2, freq, size=(n, m)).astype(float)
    G[rng.random((n, m)) < 0.01] = np.nan
    filled = np.where(np.isnan(G), np.nanmean(G, axis=0), G)
    genetic = (filled - filled.mean(0)) @ rng.normal(0, 0.15, m)
    age = rng.normal(50, 10, n)
    y = 0.02 * age + genetic + rng.normal(0, 1, n) + 0.8 * filled[:, 5]
    X = np.column_stack([np.ones(n), age])
    return G, y, X, economic_qs(grm(G, kind="centered"))


# seed 1: the ML null stops on GEMMA's bound; seed 0 (the data of the CLI tests' cohort):
# it stopped on the old bound √ε but has an interior maximum within GEMMA's range
G, Y, X, QS = _cohort(seed=1)


def test_centred_grm_puts_the_intercept_in_the_null_space_of_K():
    (Q0, _), _ = QS
    assert Q0.shape[1] < Y.size  # rank-deficient
    np.testing.assert_allclose(Q0.T @ np.ones(Y.size), 0.0, atol=1e-10)


def test_ml_null_on_the_bound_warns_with_gammas_value_and_meaning():
    lmm = LMM(Y, X, QS, restricted=False)
    meaning = r"no maximum.*gamma = sigma_g\^2/sigma_e\^2 = 100000, GEMMA's limit"
    with pytest.warns(BoundaryWarning, match=meaning):
        lmm.fit(verbose=False)
    assert lmm.delta == pytest.approx(DELTA_BOUNDS[0], rel=1e-12)
    assert (1 - lmm.delta) / lmm.delta == pytest.approx(GAMMA_BOUNDS[1], rel=1e-9)
    # the likelihood on the bound is the dense one, and it still grows beyond the bound
    K = QS[0][0] @ np.diag(QS[1]) @ QS[0][0].T
    at_bound = dense_lml(Y, X, K, delta=lmm.delta, scale=lmm.scale, beta=lmm.beta)
    assert lmm.lml() == pytest.approx(at_bound, rel=1e-9)
    beyond = LMM(Y, X, QS, restricted=False)
    beyond.delta = lmm.delta / 100
    beyond.fix("delta")
    beyond.fit(verbose=False)
    assert beyond.lml() > lmm.lml() + 0.5 * np.log(100) - 1e-2


def test_reml_null_is_interior_and_silent():
    lmm = LMM(Y, X, QS, restricted=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lmm.fit(verbose=False)
    assert 1e-3 < lmm.delta < 1 - 1e-3


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("test", ["lrt", "wald"])
def test_scan_ml_null_centred_grm_refit_delta_marks_no_variant_collinear(test, seed):
    """``scan-ml-null-centred-grm-refit-delta``: every variant is tested."""
    G, y, X, QS = _cohort(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoundaryWarning)
        table = kinmix.scan(G, y, X, QS, refit_delta=True, test=test)
    assert table["reason"].isna().all(), table["reason"].value_counts()
    assert np.isfinite(table["pvalue"]).all()
    low, high = DELTA_BOUNDS
    assert table["delta"].between(low * (1 - 1e-9), high).all()


def test_scan_at_the_null_delta_on_the_bound_marks_no_variant_collinear():
    with pytest.warns(BoundaryWarning, match="no maximum"):
        table = kinmix.scan(G, Y, X, QS)
    assert table["reason"].isna().all()
    assert np.isfinite(table["chi2"]).all()
