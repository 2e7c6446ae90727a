"""GLMMExpFam: the seed example, glimix-core references, gradients, EP oracles, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from kinmix.ep import LowRankPrior, run_ep
from kinmix.errors import ConvergenceWarning, FitError, InputError
from kinmix.glmm import GLMMExpFam, Sites
from kinmix.lik import BernoulliProdLik, NormalProdLik, TiltedMoments
from kinmix.linalg import economic_qs, economic_qs_linear

from .._numdiff import free_gradient

LIKS = ["bernoulli", "probit", "binomial", "poisson"]


def _model(ref_inputs, name, **kwargs):
    lik = (name, ref_inputs["glmm_ntrials"]) if name == "binomial" else (name,)
    QS = economic_qs(ref_inputs["glmm_K"])
    return GLMMExpFam(ref_inputs[f"glmm_{name}_y"], lik, ref_inputs["glmm_X"], QS, **kwargs)


def test_glmm_expfam__seed_example_prints_before_and_after(capsys):
    from numpy import dot, sqrt, zeros
    from numpy.random import RandomState

    random = RandomState(0)
    nsamples = 10
    X = random.randn(nsamples, 2)
    G = random.randn(nsamples, 100)
    K = dot(G, G.T)
    ntrials = random.randint(1, 100, nsamples)
    z = dot(G, random.randn(100)) / sqrt(100)
    successes = zeros(len(ntrials), int)
    for i in range(len(ntrials)):
        successes[i] = sum(z[i] + 0.2 * random.randn(ntrials[i]) > 0)
    QS = economic_qs(K)
    glmm = GLMMExpFam(successes, ("binomial", ntrials), X, QS)
    print("Before: %.2f" % glmm.lml())
    glmm.fit(verbose=False)
    print("After: %.2f" % glmm.lml())
    assert capsys.readouterr().out == "Before: -16.40\nAfter: -13.43\n"
    assert glmm.lml() == pytest.approx(-13.4265804, abs=1e-6)


@pytest.mark.parametrize("name", LIKS)
def test_glmm_expfam__fixed_parameters_match_glimix(glimix_ref, ref_inputs, name):
    for case in glimix_ref[f"glmm_{name}_fixed"]:
        glmm = _model(ref_inputs, name)
        glmm.beta = case["beta"]
        glmm.scale = case["scale"]
        glmm.delta = case["delta"]
        assert glmm.lml() == pytest.approx(case["lml"], rel=1e-9)


@pytest.mark.parametrize("name", LIKS)
def test_glmm_expfam__lml_at_the_start_matches_glimix(glimix_ref, ref_inputs, name):
    assert _model(ref_inputs, name).lml() == pytest.approx(
        glimix_ref[f"glmm_{name}"]["lml_before"], rel=1e-9
    )


@pytest.mark.parametrize("name", ["probit", "binomial", "poisson"])
def test_glmm_expfam__fit_matches_glimix(glimix_ref, ref_inputs, name):
    ref = glimix_ref[f"glmm_{name}"]
    glmm = _model(ref_inputs, name)
    glmm.fit(verbose=False)
    assert glmm.lml() == pytest.approx(ref["lml_after"], rel=1e-3)
    assert glmm.lml() >= ref["lml_after"] - 1e-7 * abs(ref["lml_after"])
    np.testing.assert_allclose(glmm.beta, ref["beta"], rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_glmm_expfam__bernoulli_fit_reaches_glimix_optimum(glimix_ref, ref_inputs):
    # The optimum is flat towards the scale bound (glimix stops at s = 400); compare lml.
    ref = glimix_ref["glmm_bernoulli"]
    glmm = _model(ref_inputs, "bernoulli")
    glmm.fit(verbose=False)
    assert glmm.lml() == pytest.approx(ref["lml_after"], rel=1e-3)
    assert glmm.lml() >= ref["lml_after"] - 1e-6 * abs(ref["lml_after"])
    assert glmm.delta == pytest.approx(ref["delta"], abs=1e-3)


def test_glmm_expfam__probit_fixes_delta_at_its_lower_limit(ref_inputs):
    glmm = _model(ref_inputs, "probit")
    assert glmm.delta == pytest.approx(1.4901161193847656e-08, rel=1e-12)
    assert glmm.parameters()["logitdelta"].fixed
    assert glmm.v1 == pytest.approx(glmm.scale * 1.4901161193847656e-08)


@pytest.mark.parametrize("name", LIKS)
def test_glmm_expfam__gradient_matches_central_differences(ref_inputs, name):
    glmm = _model(ref_inputs, name, rtol=1e-13, atol=1e-13)
    rng = np.random.default_rng(len(name))
    glmm.beta = rng.normal(scale=0.3, size=2)
    glmm.scale = rng.uniform(0.3, 1.5)
    glmm.delta = rng.uniform(0.2, 0.8) if name != "probit" else glmm.delta
    grad = glmm.gradient()
    for key, parameter in glmm.parameters().items():
        if parameter.fixed:
            continue
        numeric = free_gradient(parameter, glmm.lml, step=1e-5)
        analytic = np.ravel(grad[key])
        assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-7), key


@pytest.mark.parametrize("low_rank", [False, True])
def test_glmm_expfam__normal_likelihood_reproduces_the_exact_marginal_likelihood(low_rank):
    rng = np.random.default_rng(7)
    n = 40
    Z = rng.normal(size=(n, 10 if low_rank else 60))
    QS = economic_qs_linear(Z / np.sqrt(Z.shape[1]))
    K = QS[0][0] @ np.diag(QS[1]) @ QS[0][0].T
    X = np.c_[np.ones(n), rng.normal(size=n)]
    y = rng.normal(size=n) + 0.5
    glmm = GLMMExpFam(y, NormalProdLik(0.7), X, QS, rtol=1e-12, atol=1e-12)
    glmm.beta, glmm.scale, glmm.delta = [0.4, -0.3], 1.3, 0.25
    cov = glmm.v0 * K + (glmm.v1 + 0.7) * np.eye(n)
    expected = multivariate_normal(X @ glmm.beta, cov).logpdf(y)
    assert glmm.lml() == pytest.approx(expected, rel=1e-11)
    np.testing.assert_allclose(glmm.covariance(), glmm.v0 * K + glmm.v1 * np.eye(n), atol=1e-12)
    np.testing.assert_allclose(glmm.mean(), X @ glmm.beta, rtol=1e-14)


def test_glmm_expfam__site_parameters_are_the_ep_fixed_point(ref_inputs):
    glmm = _model(ref_inputs, "bernoulli", rtol=1e-12, atol=1e-12)
    site = glmm.site
    assert isinstance(site, Sites) and site.eta.shape == (120,)
    assert np.all(site.tau > 0)
    prior = LowRankPrior(glmm.mean(), glmm._U, glmm.v0, glmm.v1)
    again = run_ep(prior, glmm.lik, ref_inputs["glmm_bernoulli_y"], sites=site, rtol=1e-12)
    assert again.n_iterations == 1
    assert again.lml == pytest.approx(glmm.lml(), rel=1e-13)


def test_run_ep__warns_when_it_does_not_converge(ref_inputs):
    glmm = _model(ref_inputs, "bernoulli")
    prior = LowRankPrior(glmm.mean(), glmm._U, 30.0, 0.1)
    match = r"EP did not converge in 2 sweeps: .* \(rtol=1e-14"
    with pytest.warns(ConvergenceWarning, match=match):
        result = run_ep(
            prior, BernoulliProdLik(), ref_inputs["glmm_bernoulli_y"], rtol=1e-14, max_iterations=2
        )
    assert not result.converged and result.n_iterations == 2 and result.change > 1


def test_run_ep__non_finite_moments_raise_fit_error():
    class Broken(NormalProdLik):
        def tilted_moments(self, y, mu, var):
            nan = np.full_like(mu, np.nan)
            return TiltedMoments(nan, nan, nan)

    prior = LowRankPrior(np.zeros(3), np.zeros((3, 0)), 0.0, 1.0)
    with pytest.raises(FitError, match="EP produced non-finite site parameters at sweep 1"):
        run_ep(prior, Broken(), np.zeros(3))


def test_glmm_expfam__fix_and_unfix_control_fitting(ref_inputs):
    glmm = _model(ref_inputs, "poisson")
    glmm.fix("scale")
    glmm.fix("delta")
    glmm.scale, glmm.delta = 0.5, 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        glmm.fit(verbose=False)
    assert (glmm.scale, glmm.delta) == pytest.approx((0.5, 0.3))
    before = glmm.lml()
    glmm.unfix("scale")
    glmm.fit(verbose=False)
    assert glmm.scale != pytest.approx(0.5) and glmm.lml() > before
    glmm.fix("beta")
    assert glmm.parameters()["beta"].fixed


@pytest.mark.parametrize(
    "lik, match",
    [
        (("gamma",), "lik name must be one of bernoulli, probit, binomial, poisson; got 'gamma'"),
        (("binomial",), r"\('binomial', ntrials\) with one array"),
        (("poisson", [1, 2]), r"lik \('poisson',\) takes no extra items; got 1"),
        (42, "lik must be a tuple whose first item is a likelihood name"),
    ],
)
def test_glmm_expfam__bad_lik_raises(lik, match):
    with pytest.raises(InputError, match=match):
        GLMMExpFam([0, 1, 1], lik, np.ones((3, 1)))


def test_glmm_expfam__bad_inputs_raise():
    X = np.ones((4, 1))
    with pytest.raises(InputError, match=r"y\[2\] = 3 is outside the support: Bernoulli"):
        GLMMExpFam([0, 1, 3, 0], "Bernoulli", X)
    with pytest.raises(InputError, match="y has 4 entries but ntrials has 3"):
        GLMMExpFam([0, 1, 3, 0], ("binomial", [4, 4, 4]), X)
    with pytest.raises(InputError, match="X has 3 rows but 4 were expected"):
        GLMMExpFam([0, 1, 1, 0], ("bernoulli",), np.ones((3, 1)))
    with pytest.raises(InputError, match="X contains 1 non-finite"):
        GLMMExpFam([0, 1, 1, 0], ("bernoulli",), [[1.0], [np.nan], [1.0], [1.0]])
    with pytest.raises(InputError, match="y contains 1 non-finite"):
        GLMMExpFam([0, np.nan, 1, 0], ("poisson",), X)
    with pytest.raises(InputError, match=r"rtol must be a finite number in \(0, inf\]"):
        GLMMExpFam([0, 1, 1, 0], ("poisson",), X, rtol=0.0)
    glmm = GLMMExpFam([0, 1, 1, 0], ("poisson",), X)
    with pytest.raises(InputError, match="var_name must be one of 'beta', 'scale', 'delta'"):
        glmm.fix("logscale")
    with pytest.raises(InputError, match=r"delta must be a finite number in \[0, 1\]; got 1.5"):
        glmm.delta = 1.5
    with pytest.raises(InputError, match="beta has 2 entries but 1 were expected"):
        glmm.beta = [1.0, 2.0]


def test_glmm_expfam__fit_warns_when_the_optimiser_stops_early(ref_inputs, monkeypatch):
    from kinmix.params import FitResult

    glmm = _model(ref_inputs, "binomial")

    def stalled(objective, parameters, **kwargs):
        return FitResult(False, 2, 3, "ABNORMAL_TERMINATION_IN_LNSRCH", -300.0)

    monkeypatch.setattr("kinmix.params.maximize", stalled)
    with pytest.warns(ConvergenceWarning, match="GLMMExpFam.fit did not converge after 2"):
        glmm.fit(verbose=False)
