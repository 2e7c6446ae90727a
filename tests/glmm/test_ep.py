"""The EP algebra on a low-rank-plus-diagonal prior against dense linear algebra."""

from __future__ import annotations

import numpy as np
import pytest

from kinmix.ep import LowRankPrior, SiteAlgebra, Sites


@pytest.mark.parametrize("k, v0, v1", [(6, 1.3, 0.4), (15, 0.7, 0.0), (0, 0.0, 2.0)])
def test_site_algebra__matches_dense_formulas(k, v0, v1):
    rng = np.random.default_rng(k)
    n = 15
    U = rng.normal(size=(n, k))
    K = v0 * U @ U.T + v1 * np.eye(n)
    m = rng.normal(size=n)
    tau = rng.uniform(0.2, 3.0, n)
    tau[[2, 7]] = 0.0  # flat sites are allowed
    eta = rng.normal(size=n)
    algebra = SiteAlgebra(LowRankPrior(m, U, v0, v1), Sites(eta, tau))

    T = np.diag(tau)
    Sigma = (
        np.linalg.inv(np.linalg.inv(K) + T)
        if v1 > 0
        else K - K @ np.linalg.solve(np.eye(n) + T @ K, T @ K)
    )
    b = eta - tau * m
    mean, var = algebra.marginals()
    np.testing.assert_allclose(var, np.diag(Sigma), rtol=1e-10)
    np.testing.assert_allclose(mean, m + Sigma @ b, rtol=1e-10, atol=1e-12)
    alpha = np.linalg.solve(np.eye(n) + T @ K, b)
    np.testing.assert_allclose(algebra.alpha(), alpha, rtol=1e-10, atol=1e-12)
    R = np.linalg.solve(np.eye(n) + T @ K, T)
    np.testing.assert_allclose(algebra.dense_r(), R, rtol=1e-10, atol=1e-12)
    assert algebra.trace_r() == pytest.approx(np.trace(R), rel=1e-10)
    assert algebra.trace_r_uut() == pytest.approx(np.trace(R @ U @ U.T), rel=1e-10, abs=1e-12)
    assert algebra.logdet() == pytest.approx(np.linalg.slogdet(np.eye(n) + K @ T)[1], rel=1e-10)
    assert algebra.quadratic() == pytest.approx(b @ Sigma @ b, rel=1e-10)


def test_sites__zeros_give_the_prior_marginals():
    U = np.arange(12.0).reshape(4, 3) / 10
    prior = LowRankPrior(np.ones(4), U, 2.0, 0.5)
    mean, var = SiteAlgebra(prior, Sites.zeros(4)).marginals()
    np.testing.assert_allclose(mean, 1.0)
    np.testing.assert_allclose(var, 2.0 * (U * U).sum(1) + 0.5, rtol=1e-14)
