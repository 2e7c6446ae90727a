"""Tilted moments against 30-digit quadrature (mpmath), including the tails."""

from __future__ import annotations

import numpy as np
import pytest

from kinmix.lik import (
    BernoulliProdLik,
    BinomialProdLik,
    NormalProdLik,
    PoissonProdLik,
    ProbitProdLik,
    ProdLik,
)
from kinmix.link import ProbitLink

mp = pytest.importorskip("mpmath")
mp.mp.dps = 30


def _oracle(log_lik, mode: float, mu: float, var: float) -> tuple[float, float, float]:
    """log Z, mean and variance of exp(log_lik(f)) N(f | mu, var) by mpmath quadrature."""
    mu, var = mp.mpf(mu), mp.mpf(var)

    def h(x):
        return log_lik(x) - (x - mu) ** 2 / (2 * var)

    xm = mp.mpf(mode)
    hm = h(xm)
    points = [xm + d for d in (-400, -60, -15, -4, -1, -0.2, 0, 0.2, 1, 4, 15, 60, 400)]
    z = mp.quad(lambda x: mp.exp(h(x) - hm), points)
    m1 = mp.quad(lambda x: (x - xm) * mp.exp(h(x) - hm), points) / z
    m2 = mp.quad(lambda x: (x - xm - m1) ** 2 * mp.exp(h(x) - hm), points) / z
    log_z = hm + mp.log(z) - mp.log(2 * mp.pi * var) / 2
    return float(log_z), float(xm + m1), float(m2)


def _log_sigmoid(x):
    return -mp.log(1 + mp.exp(-x))


CASES = {
    "bernoulli-1": (BernoulliProdLik(), 1.0, lambda x: _log_sigmoid(x)),
    "bernoulli-0": (BernoulliProdLik(), 0.0, lambda x: _log_sigmoid(-x)),
    "binomial": (
        BinomialProdLik([50]),
        37.0,
        lambda x: mp.log(mp.binomial(50, 37)) + 37 * _log_sigmoid(x) + 13 * _log_sigmoid(-x),
    ),
    "poisson": (PoissonProdLik(), 12.0, lambda x: 12 * x - mp.exp(x) - mp.log(mp.factorial(12))),
    "poisson-0": (PoissonProdLik(), 0.0, lambda x: -mp.exp(x)),
}
#: (mu, var): prior far from the likelihood's mass, tiny and huge variances.
POINTS = [(-30.0, 400.0), (25.0, 1e-3), (0.5, 0.3), (6.0, 100.0), (-8.0, 4.0)]


@pytest.mark.parametrize("mu, var", POINTS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_tilted_moments__match_mpmath_quadrature(case, mu, var):
    lik, y, log_lik = CASES[case]
    got = lik.tilted_moments(np.array([y]), np.array([mu]), np.array([var]))
    log_z, mean, variance = _oracle(log_lik, got.mean[0], mu, var)
    assert abs(got.log_zeroth[0] - log_z) <= 1e-10 * max(1.0, abs(log_z))
    assert abs(got.mean[0] - mean) <= 1e-10 * max(abs(mean), np.sqrt(variance))
    assert abs(got.variance[0] - variance) <= 1e-10 * variance


@pytest.mark.parametrize("mu, var", [(-30.0, 0.01), (-5.0, 2.0), (0.0, 1.0), (4.0, 100.0)])
@pytest.mark.parametrize("y", [0.0, 1.0])
def test_tilted_moments__probit_closed_form_matches_mpmath(y, mu, var):
    got = ProbitProdLik().tilted_moments(np.array([y]), np.array([mu]), np.array([var]))
    s = 2 * y - 1
    log_z, mean, variance = _oracle(lambda x: mp.log(mp.ncdf(s * x)), got.mean[0], mu, var)
    assert abs(got.log_zeroth[0] - log_z) <= 1e-10 * max(1.0, abs(log_z))
    assert abs(got.mean[0] - mean) <= 1e-10 * max(abs(mean), np.sqrt(variance))
    assert abs(got.variance[0] - variance) <= 1e-10 * variance


def test_tilted_moments__probit_closed_form_equals_quadrature_on_many_sites():
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, n).astype(float)
    mu = rng.normal(scale=8, size=n)
    var = np.exp(rng.uniform(np.log(1e-3), np.log(300), n))
    closed = ProbitProdLik().tilted_moments(y, mu, var)
    quad = BinomialProdLik(np.ones(n), ProbitLink()).tilted_moments(y, mu, var)
    np.testing.assert_allclose(closed.log_zeroth, quad.log_zeroth, rtol=1e-10, atol=1e-10)
    spread = np.maximum(np.abs(closed.mean), np.sqrt(closed.variance))
    assert np.max(np.abs(closed.mean - quad.mean) / spread) <= 1e-10
    np.testing.assert_allclose(closed.variance, quad.variance, rtol=1e-10)


def test_tilted_moments__normal_is_exact_and_matches_quadrature():
    y, mu, var = np.array([1.3, -2.0]), np.array([0.2, 5.0]), np.array([0.7, 40.0])
    lik = NormalProdLik(0.5)
    exact = lik.tilted_moments(y, mu, var)
    quad = ProdLik.tilted_moments(lik, y, mu, var)  # the generic quadrature path
    np.testing.assert_allclose(exact.log_zeroth, quad.log_zeroth, rtol=1e-12)
    np.testing.assert_allclose(exact.mean, quad.mean, rtol=1e-12)
    np.testing.assert_allclose(exact.variance, quad.variance, rtol=1e-10)
    np.testing.assert_allclose(exact.variance, [0.7 * 0.5 / 1.2, 40 * 0.5 / 40.5], rtol=1e-14)
