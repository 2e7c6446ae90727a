"""GLMMNormal: dense oracle, gradients, fitting, the fast scanner and its calibration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2, multivariate_normal

from kinmix.errors import InputError
from kinmix.glmm import GLMMExpFam, GLMMNormal
from kinmix.linalg import economic_qs, economic_qs_linear

from .._numdiff import free_gradient


def _problem(n=30, rank=8, seed=1):
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(n, rank))
    QS = economic_qs_linear(G / np.sqrt(rank))
    K = G @ G.T / rank
    X = np.c_[np.ones(n), rng.normal(size=n)]
    tau = rng.uniform(0.5, 3, n)
    eta = rng.normal(size=n)
    return eta, tau, X, QS, K


@pytest.mark.parametrize("rank", [8, 40])
def test_glmm_normal__lml_equals_dense_density(rank):
    eta, tau, X, QS, K = _problem(n=30, rank=rank)
    glmm = GLMMNormal(eta, tau, X, QS)
    glmm.beta, glmm.scale, glmm.delta = [0.3, -0.2], 1.7, 0.3
    cov = glmm.v0 * K + glmm.v1 * np.eye(30) + np.diag(1 / tau)
    expected = multivariate_normal(X @ glmm.beta, cov).logpdf(eta / tau)
    assert glmm.lml() == pytest.approx(expected, rel=1e-12)
    assert glmm.value() == glmm.lml()


def test_glmm_normal__without_kinship_is_heteroscedastic_regression():
    eta, tau, X, _, _ = _problem()
    glmm = GLMMNormal(eta, tau, X)
    glmm.beta, glmm.scale, glmm.delta = [0.1, 0.2], 2.0, 0.4
    cov = np.diag(0.8 + 1 / tau)
    expected = multivariate_normal(X @ glmm.beta, cov).logpdf(eta / tau)
    assert glmm.lml() == pytest.approx(expected, rel=1e-12)


def test_glmm_normal__gradient_matches_central_differences():
    eta, tau, X, QS, _ = _problem()
    glmm = GLMMNormal(eta, tau, X, QS)
    glmm.beta, glmm.scale, glmm.delta = [0.3, -0.2], 1.7, 0.3
    grad = glmm.gradient()
    for key, parameter in glmm.parameters().items():
        numeric = free_gradient(parameter, glmm.lml)
        assert np.ravel(grad[key]) == pytest.approx(numeric, rel=1e-7)


def test_glmm_normal__fit_reaches_a_stationary_point():
    eta, tau, X, QS, _ = _problem(n=60, seed=4)
    glmm = GLMMNormal(eta, tau, X, QS)
    start = glmm.lml()
    glmm.fit(verbose=False)
    assert glmm.lml() > start
    np.testing.assert_allclose(glmm.gradient()["beta"], 0.0, atol=1e-3)


def test_glmm_normal__bad_tau_raises():
    with pytest.raises(InputError, match=r"tau must be positive .*; tau\[1\] = 0"):
        GLMMNormal([0.1, 0.2], [1.0, 0.0], np.ones((2, 1)))
    with pytest.raises(InputError, match="tau has 3 entries but 2 were expected"):
        GLMMNormal([0.1, 0.2], [1.0, 1.0, 1.0], np.ones((2, 1)))


def test_glmm_normal__fast_scanner_null_matches_a_dense_fit():
    pytest.importorskip("kinmix.lmm")
    eta, tau, X, QS, K = _problem(n=40, rank=10, seed=2)
    glmm = GLMMNormal(eta, tau, X, QS)
    glmm.scale, glmm.delta = 1.2, 0.3
    scanner = glmm.get_fast_scanner()
    # The scanner profiles an overall scale s' of K' + v1 I, K' = v0 K + diag(1/tau).
    C = glmm.v0 * K + np.diag(1 / tau) + glmm.v1 * np.eye(40)
    Ci = np.linalg.inv(C)
    mu = eta / tau
    beta = np.linalg.solve(X.T @ Ci @ X, X.T @ Ci @ mu)
    r = mu - X @ beta
    s = r @ Ci @ r / 40
    expected = multivariate_normal(X @ beta, s * C).logpdf(mu)
    assert scanner.null_lml() == pytest.approx(expected, rel=1e-10)
    g = np.random.default_rng(0).normal(size=(40, 3))
    result = scanner.fast_scan(g, verbose=False)
    for j in range(3):
        Xj = np.c_[X, g[:, j]]
        bj = np.linalg.solve(Xj.T @ Ci @ Xj, Xj.T @ Ci @ mu)
        rj = mu - Xj @ bj
        lml = multivariate_normal(Xj @ bj, (rj @ Ci @ rj / 40) * C).logpdf(mu)
        assert result["lml"][j] == pytest.approx(lml, rel=1e-10)
        assert result["effsizes1"][j] == pytest.approx(bj[-1], rel=1e-8)


def _structured_genotypes(rng, nclusters, per_cluster, nsnps):
    """Genotypes whose allele frequencies differ between clusters (population structure)."""
    base = rng.uniform(0.1, 0.9, nsnps)
    freqs = np.clip(base + rng.normal(scale=0.15, size=(nclusters, nsnps)), 0.02, 0.98)
    freqs = np.repeat(freqs, per_cluster, axis=0)
    return rng.binomial(2, freqs).astype(float)


@pytest.mark.slow
def test_glmm_binary_scan__null_p_values_are_calibrated():
    pytest.importorskip("kinmix.lmm")
    rng = np.random.default_rng(2024)
    nclusters, per_cluster = 40, 10
    n = nclusters * per_cluster
    Z = _structured_genotypes(rng, nclusters, per_cluster, 2000)
    Z = (Z - Z.mean(0)) / np.maximum(Z.std(0), 1e-12)
    K = Z @ Z.T / Z.shape[1]
    QS = economic_qs(K)
    latent = -0.3 + np.linalg.cholesky(0.8 * K + 0.2 * np.eye(n) + 1e-9 * np.eye(n)) @ (
        rng.normal(size=n)
    )
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-latent))).astype(float)
    X = np.ones((n, 1))

    null = GLMMExpFam(y, ("bernoulli",), X, QS)
    null.fit(verbose=False)
    normal = GLMMNormal(null.site.eta, null.site.tau, X, QS)
    normal.fit(verbose=False)
    scanner = normal.get_fast_scanner()
    G = _structured_genotypes(rng, nclusters, per_cluster, 3000)
    result = scanner.fast_scan(G, verbose=False)
    stat = 2 * (result["lml"] - scanner.null_lml())
    pvalues = chi2(1).sf(stat)
    lambda_gc = np.median(stat) / chi2(1).ppf(0.5)
    assert 0.9 <= lambda_gc <= 1.1
    assert np.mean(pvalues < 0.05) == pytest.approx(0.05, abs=0.015)
