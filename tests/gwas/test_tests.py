"""kinmix.scan's ``test`` and ``refit_delta``: oracles, columns, calibration and errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from kinmix import economic_qs, scan
from kinmix.constants import CHI2_MEDIAN
from kinmix.errors import InputError
from kinmix.lmm import LMM

pytestmark = pytest.mark.filterwarnings("ignore::kinmix.errors.BoundaryWarning")


def _data(seed: int = 0, n: int = 90, m: int = 8):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 40))
    K = Z @ Z.T / Z.shape[1]
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    G = rng.integers(0, 3, size=(n, m)).astype(float)
    y = X @ [0.5, 1.0] + 0.4 * G[:, 0] + Z @ rng.normal(size=40) * 0.15 + rng.normal(size=n)
    return G, y, X, K


def _lmm(y, M, K, restricted: bool, delta: float | None = None) -> LMM:
    lmm = LMM(y, M, economic_qs(K), restricted=restricted)
    if delta is not None:
        lmm.delta = delta
        lmm.fix("delta")
    lmm.fit(verbose=False)
    return lmm


def test_scan_refit__equals_per_variant_lmm_fits():
    """Each variant's δ, β, se and LRT equal those of LMM fitted on [X, g] by itself."""
    G, y, X, K = _data(1)
    n, c = X.shape
    got = scan(G, y, X, K=K, test="all", refit_delta=True)
    null = _lmm(y, X, K, restricted=False)
    for j in range(G.shape[1]):
        M = np.column_stack([X, G[:, j]])
        reml, ml = _lmm(y, M, K, True), _lmm(y, M, K, False)
        row = got.iloc[j]
        assert row["delta_reml"] == pytest.approx(reml.delta, rel=1e-6)
        assert row["delta_ml"] == pytest.approx(ml.delta, rel=1e-6)
        assert row["lml"] == pytest.approx(ml.lml(), rel=1e-10)
        assert row["beta"] == pytest.approx(reml.beta[-1], rel=1e-7)
        # LMM's REML scale of [X, g] is on n - c - 1 degrees of freedom, as GEMMA's.
        se = np.sqrt(np.diag(reml.beta_covariance))[-1]
        assert row["se"] == pytest.approx(se, rel=1e-6)
        lrt = 2 * (ml.lml() - null.lml())
        assert row["chi2_lrt"] == pytest.approx(lrt, rel=1e-7)
        assert row["pvalue_lrt"] == pytest.approx(stats.chi2.sf(lrt, 1), rel=1e-6)
        assert row["pvalue_f"] == pytest.approx(
            stats.f.sf(row["beta"] ** 2 / row["se"] ** 2, 1, n - c - 1), rel=1e-9
        )
        assert row["h2_ml"] == pytest.approx(1 - row["delta_ml"])
    assert got["converged_reml"].all() and got["converged_ml"].all()


def test_scan_score__gemma_definition_at_the_null_delta():
    G, y, X, K = _data(2)
    n, c = X.shape
    got = scan(G, y, X, K=K, test="score")
    null = _lmm(y, X, K, restricted=False)
    V = (1 - null.delta) * K + null.delta * np.eye(n)
    Vi = np.linalg.inv(V)
    P = Vi - Vi @ X @ np.linalg.solve(X.T @ Vi @ X, X.T @ Vi)
    for j in range(G.shape[1]):
        g = G[:, j]
        score = n * (g @ P @ y) ** 2 / ((y @ P @ y) * (g @ P @ g))
        assert got["chi2"].iloc[j] == pytest.approx(score, rel=1e-7)
        assert got["pvalue"].iloc[j] == pytest.approx(stats.f.sf(score, 1, n - c - 1), rel=1e-6)


def test_scan_fixed_tests__columns_agree_with_each_other():
    """Single-test tables keep the seed columns; ``all`` reports every statistic."""
    G, y, X, K = _data(3)
    n, c = X.shape
    lrt = scan(G, y, X, K=K)
    both = scan(G, y, X, K=K, test="all")
    for test in ("wald", "f", "score"):
        single = scan(G, y, X, K=K, test=test)
        assert list(single.columns) == list(lrt.columns)
        np.testing.assert_allclose(single["chi2"], both[f"chi2_{test}"], rtol=1e-12)
        np.testing.assert_allclose(single["pvalue"], both[f"pvalue_{test}"], rtol=1e-12)
        np.testing.assert_allclose(single["beta"], lrt["beta"], rtol=1e-12)
    wald = scan(G, y, X, K=K, test="wald")
    np.testing.assert_allclose(wald["chi2"], (wald["beta"] / wald["se"]) ** 2, rtol=1e-9)
    f = scan(G, y, X, K=K, test="f")
    np.testing.assert_allclose(f["se"], lrt["se"] * np.sqrt(n / (n - c - 1)), rtol=1e-12)
    np.testing.assert_allclose(f["chi2"], (f["beta"] / f["se"]) ** 2, rtol=1e-9)
    np.testing.assert_allclose(both["chi2_lrt"], lrt["chi2"], rtol=1e-12)
    assert "chi2" not in both.columns and "pvalue" not in both.columns


def test_scan_refit__single_tests_and_untestable_variants():
    G, y, X, K = _data(4)
    G[:, 2] = 1.0
    both = scan(G, y, X, K=K, test="all", refit_delta=True)
    wald = scan(G, y, X, K=K, test="wald", refit_delta=True)
    lrt = scan(G, y, X, K=K, test="lrt", refit_delta=True)
    f = scan(G, y, X, K=K, test="f", refit_delta=True)
    np.testing.assert_allclose(wald["delta"], both["delta_reml"], rtol=1e-12)
    np.testing.assert_allclose(wald["pvalue"], both["pvalue_wald"], rtol=1e-12)
    np.testing.assert_allclose(f["pvalue"], both["pvalue_f"], rtol=1e-12)
    np.testing.assert_allclose(lrt["delta"], both["delta_ml"], rtol=1e-12)
    np.testing.assert_allclose(lrt["chi2"], both["chi2_lrt"], rtol=1e-12)
    assert both["reason"].iloc[2] == "constant"
    assert np.isnan(both["delta_ml"].iloc[2]) and not both["converged_ml"].iloc[2]
    assert both.drop(index=2)["pvalue_lrt"].notna().all()


def test_scan_tests__bad_options_raise():
    G, y, X, K = _data(5)
    with pytest.raises(InputError, match="test must be one of"):
        scan(G, y, X, K=K, test="t")
    with pytest.raises(InputError, match="interaction scans report"):
        scan(G, y, X, K=K, interaction=X[:, 1:], test="wald")
    with pytest.raises(InputError, match="leave restricted=False"):
        scan(G, y, X, K=K, refit_delta=True, restricted=True)


def test_scan_refit__null_pvalues_are_uniform_with_related_samples(null_cohort):
    """GEMMA's three exact tests under the null: λGC near 1, uniform p-values.

    As in ``test_null_calibration``: 125 sibships of 4 from 2 populations, h² = 0.5, and
    pooled traits (P = 8) so that the spread of λGC from the draws of y stays small.
    """
    G, Y, QS = null_cohort(seed=11, variants=3500, traits=8)
    result = scan(G, Y, None, QS, test="all", refit_delta=True)
    tested = result[result["reason"].isna()]
    assert len(tested) >= 0.99 * len(result)
    assert tested["converged_reml"].all() and tested["converged_ml"].all()
    for name in ("f", "lrt", "score"):
        # λGC on the χ²₁ scale: the p-values' median mapped through χ²₁'s quantile.
        chi2 = stats.chi2.isf(tested[f"pvalue_{name}"], 1)
        inflation = np.median(chi2) / CHI2_MEDIAN
        assert 0.95 <= inflation <= 1.05, name
        assert stats.kstest(tested[f"pvalue_{name}"], "uniform").pvalue > 0.01, name


def test_scan_refit__dask_blocks_equal_numpy():
    import dask.array as da

    G, y, X, K = _data(6, m=12)
    expected = scan(G, y, X, K=K, test="all", refit_delta=True, block_size=5)
    got = scan(da.from_array(G, chunks=(G.shape[0], 4)), y, X, K=K, test="all", refit_delta=True)
    assert list(got.columns) == list(expected.columns)
    for column in ("beta", "se", "delta_reml", "delta_ml", "pvalue_lrt", "pvalue_f"):
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-9)
