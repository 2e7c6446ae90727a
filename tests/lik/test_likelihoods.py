"""Likelihoods: log-densities and derivatives, supports, samplers, input errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from kinmix.errors import InputError
from kinmix.lik import (
    BernoulliProdLik,
    BinomialProdLik,
    NormalProdLik,
    PoissonProdLik,
    ProbitProdLik,
)
from kinmix.link import LogitLink, LogLink, ProbitLink

NTRIALS = np.array([1, 5, 20, 7, 3, 40])
LIKS = {
    "bernoulli": (BernoulliProdLik(), np.array([0, 1, 1, 0, 1, 0.0])),
    "probit": (ProbitProdLik(), np.array([1, 1, 0, 0, 1, 0.0])),
    "binomial": (BinomialProdLik(NTRIALS), np.array([0, 2, 20, 3, 1, 11.0])),
    "binomial-probit": (BinomialProdLik(NTRIALS, ProbitLink()), np.array([1, 0, 9, 7, 2, 40.0])),
    "poisson": (PoissonProdLik(), np.array([0, 3, 12, 1, 0, 40.0])),
    "normal": (NormalProdLik(0.8), np.array([0.3, -1.2, 2.0, 0.0, 5.0, -3.0])),
}
X = np.array([-3.1, -0.4, 0.0, 0.9, 2.2, 4.5])


@pytest.mark.parametrize("name", sorted(LIKS))
def test_lik__derivatives_match_central_differences(name):
    lik, y = LIKS[name]
    h = 1e-5
    _, d1, d2 = lik.log_pdf_derivatives(y, X)
    up, d1_up, _ = lik.log_pdf_derivatives(y, X + h)
    down, d1_down, _ = lik.log_pdf_derivatives(y, X - h)
    np.testing.assert_allclose(d1, (up - down) / (2 * h), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(d2, (d1_up - d1_down) / (2 * h), rtol=1e-6, atol=1e-8)


def test_lik__log_pdf_equals_scipy():
    p = 1 / (1 + np.exp(-X))
    y = LIKS["binomial"][1]
    np.testing.assert_allclose(
        LIKS["binomial"][0].log_pdf(y, X), stats.binom(NTRIALS, p).logpmf(y), rtol=1e-12
    )
    y = LIKS["poisson"][1]
    np.testing.assert_allclose(
        LIKS["poisson"][0].log_pdf(y, X), stats.poisson(np.exp(X)).logpmf(y), rtol=1e-12
    )
    y = LIKS["probit"][1]
    np.testing.assert_allclose(
        LIKS["probit"][0].log_pdf(y, X), stats.bernoulli(stats.norm.cdf(X)).logpmf(y), rtol=1e-12
    )


def test_lik__samplers_have_the_right_means():
    rng = np.random.default_rng(5)
    x = np.full(20000, 0.4)
    assert BernoulliProdLik().sample(x, rng).mean() == pytest.approx(0.5987, abs=0.01)
    assert ProbitProdLik().sample(x, rng).mean() == pytest.approx(0.6554, abs=0.01)
    assert PoissonProdLik().sample(x, rng).mean() == pytest.approx(np.exp(0.4), abs=0.03)
    draws = BinomialProdLik(np.full(20000, 10)).sample(x, rng)
    assert draws.mean() == pytest.approx(5.987, abs=0.05) and draws.max() <= 10
    assert NormalProdLik(4.0).sample(x, rng).std() == pytest.approx(2.0, abs=0.05)


def test_lik__mean_is_inverse_link():
    assert BernoulliProdLik().mean(0.0) == 0.5
    assert PoissonProdLik().mean(np.log(2.5)) == pytest.approx(2.5)
    assert isinstance(BernoulliProdLik(LogitLink).link, LogitLink)


@pytest.mark.parametrize(
    "lik, y, match",
    [
        (BernoulliProdLik(), [0, 2, 1], r"y\[1\] = 2 is outside the support"),
        (ProbitProdLik(), [0.5], r"y\[0\] = 0.5 is outside the support"),
        (PoissonProdLik(), [1, -1], r"y\[1\] = -1 is outside the support: Poisson"),
        (PoissonProdLik(), [1.5], r"y\[0\] = 1.5"),
        (BinomialProdLik([3, 4]), [1, 5], r"y\[1\] = 5 .* ntrials\[1\] = 4"),
        (BinomialProdLik([3, 4]), [1, 2, 3], "y has 3 entries but ntrials has 2"),
        (BernoulliProdLik(), [0, np.nan], "y contains 1 non-finite"),
    ],
)
def test_lik__check_outcome_rejects_values_outside_the_support(lik, y, match):
    with pytest.raises(InputError, match=match):
        lik.check_outcome(y)


def test_lik__bad_constructor_arguments_raise():
    with pytest.raises(InputError, match="link LogLink is not supported by BernoulliProdLik"):
        BernoulliProdLik(LogLink())
    with pytest.raises(InputError, match=r"ntrials\[1\] = 0 is outside the support"):
        BinomialProdLik([2, 0])
    with pytest.raises(InputError, match="nodes must be at least 16; got 4"):
        PoissonProdLik(nodes=4)
    with pytest.raises(InputError, match="variance must be positive and finite; got -1.0"):
        NormalProdLik(-1.0)
