"""ExpFamGP: glimix-core references, gradients, the Gaussian oracle, printout; GGPSampler."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from kinmix.cov import EyeCov, LinearCov, SumCov
from kinmix.errors import InputError
from kinmix.ggp import ExpFamGP
from kinmix.lik import BernoulliProdLik, NormalProdLik, PoissonProdLik
from kinmix.mean import OffsetMean
from kinmix.random import GGPSampler


def _model(ref_inputs, lik="bernoulli", y=None):
    mean = OffsetMean(40)
    linear = LinearCov(ref_inputs["gp_X"])
    eye = EyeCov(40)
    y = ref_inputs["ggp_y"] if y is None else y
    return ExpFamGP(y, lik, mean, SumCov([linear, eye])), mean, linear, eye


def test_expfam_gp__fixed_parameters_match_glimix(glimix_ref, ref_inputs):
    for case in glimix_ref["ggp_bernoulli_fixed"]:
        ggp, mean, linear, eye = _model(ref_inputs)
        mean.offset = case["offset"]
        linear.scale, eye.scale = case["linear_scale"], case["eye_scale"]
        assert ggp.lml() == pytest.approx(case["lml"], rel=1e-9)


def test_expfam_gp__fit_matches_glimix(glimix_ref, ref_inputs):
    ref = glimix_ref["ggp_bernoulli"]
    ggp, mean, _, _ = _model(ref_inputs)
    mean.offset = 0.5
    assert ggp.lml() == pytest.approx(ref["lml_before"], rel=1e-9)
    ggp.fit(verbose=False)
    # Flat towards large scales (glimix stops at 341 and 378): compare the optimum loosely.
    assert ggp.lml() == pytest.approx(ref["lml_after"], rel=1e-3)
    assert ggp.lml() >= ref["lml_before"]


def test_expfam_gp__gradient_matches_central_differences(ref_inputs):
    ggp, mean, linear, eye = _model(ref_inputs)
    ggp._rtol = ggp._atol = 1e-13
    mean.offset, linear.scale, eye.scale = 0.3, 0.9, 0.7
    grad = ggp.gradient()
    h = 1e-5
    for key, parameter in ggp.parameters().items():
        start = parameter.free
        parameter.free = start + h
        up = ggp.lml()
        parameter.free = start - h
        down = ggp.lml()
        parameter.free = start
        assert float(grad[key]) == pytest.approx((up - down) / (2 * h), rel=1e-6), key


def test_expfam_gp__normal_likelihood_equals_the_gp_density(ref_inputs):
    y = np.random.default_rng(3).normal(size=40)
    ggp, mean, linear, eye = _model(ref_inputs, NormalProdLik(0.4), y=y)
    mean.offset, linear.scale, eye.scale = -0.2, 1.1, 0.3
    K = linear.value() + eye.value() + 0.4 * np.eye(40)
    assert ggp.lml() == pytest.approx(multivariate_normal(mean.value(), K).logpdf(y), rel=1e-11)


def test_expfam_gp__prints_its_parameters(ref_inputs):
    ggp, mean, _, _ = _model(ref_inputs)
    mean.offset = 0.5
    lines = str(ggp).split("\n")
    assert lines[0] == "ExpFamGP(...)"
    assert lines[1].startswith("  lml: -25.9317189")
    assert lines[2:4] == ["  OffsetMean(): OffsetMean", "    offset: 0.5"]
    assert lines[4] == "  SumCov(covariances=...): SumCov"


def test_expfam_gp__bad_outcome_raises(ref_inputs):
    y = ref_inputs["ggp_y"].copy()
    y[3] = 2.0
    with pytest.raises(InputError, match=r"y\[3\] = 2 is outside the support: Bernoulli"):
        _model(ref_inputs, y=y)
    with pytest.raises(InputError, match="mean has length 40 but the outcome has 3 samples"):
        ExpFamGP([0, 1, 0], "bernoulli", OffsetMean(40), EyeCov(3))


def test_ggp_sampler__draws_outcomes_in_the_support():
    mean = OffsetMean(400)
    mean.offset = 0.7
    cov = EyeCov(400)
    cov.scale = 0.5
    y = GGPSampler(PoissonProdLik(), mean, cov).sample(np.random.default_rng(0))
    assert y.shape == (400,) and np.all(y == np.round(y)) and y.min() >= 0
    # E[y] = exp(offset + scale / 2) for a log-normal rate.
    assert y.mean() == pytest.approx(np.exp(0.7 + 0.25), rel=0.15)
    b = GGPSampler(BernoulliProdLik(), mean, cov).sample(np.random.RandomState(1))
    assert set(np.unique(b)) == {0.0, 1.0}
