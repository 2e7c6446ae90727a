import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import multivariate_normal

from kinmix.cov import EyeCov, FreeFormCov, GivenCov, LinearCov, SumCov
from kinmix.errors import ConvergenceWarning, FitError, InputError
from kinmix.example import linear_eye_cov, offset_mean
from kinmix.gp import GP
from kinmix.mean import LinearMean, OffsetMean, SumMean
from kinmix.params import FitResult
from kinmix.random import GPSampler

from ._numdiff import free_gradient


@pytest.fixture(scope="module")
def gp_reference(glimix_ref, ref_inputs):
    """glimix-core 3.1.14's ``gp`` outputs and their inputs (``gp_X``, ``gp_y``)."""
    return glimix_ref["gp"], ref_inputs["gp_X"], ref_inputs["gp_y"]


def _spec_y():
    return GPSampler(offset_mean(), linear_eye_cov()).sample(np.random.RandomState(94584))


def _spec_gp():
    mean = offset_mean()
    cov = linear_eye_cov()
    return GP(_spec_y(), mean, cov), mean, cov


def test_gp__spec_example(capsys):
    gp, mean, cov = _spec_gp()
    print(f"Before: {gp.lml():.4f}")
    gp.fit(verbose=False)
    print(f"After: {gp.lml():.4f}")
    assert capsys.readouterr().out == "Before: -15.5582\nAfter: -13.4791\n"
    assert gp.lml() == pytest.approx(-13.47907874997517, rel=1e-9)
    assert mean.offset == pytest.approx(0.7755803668772308, rel=1e-6)
    eye_scale = cov.parameters()["SumCov[1].logscale"].value
    linear_scale = cov.parameters()["SumCov[0].logscale"].value
    assert eye_scale == pytest.approx(0.8675680523425126, rel=1e-6)
    assert linear_scale == pytest.approx(2.061153622438558e-09, rel=1e-6)


def test_gp__spec_printout_layout():
    gp, _, _ = _spec_gp()
    gp.fit(verbose=False)
    lines = str(gp).split("\n")
    assert lines[0] == "GP(...)"
    assert lines[1].startswith("  lml: -13.4790787499")
    assert lines[2] == "  OffsetMean(): OffsetMean"
    assert lines[3].startswith("    offset: 0.77558036687")
    assert lines[4:6] == ["  SumCov(covariances=...): SumCov", "    LinearCov(): LinearCov"]
    assert lines[6].startswith("      scale: 2.06115362")
    assert lines[7] == "    EyeCov(dim=10): EyeCov"
    assert lines[8].startswith("      scale: 0.86756805234")
    assert len(lines) == 9


def test_gp__fit_returns_its_frozen_result():
    gp, _, _ = _spec_gp()
    result = gp.fit(verbose=False)
    assert isinstance(result, FitResult) and result.converged
    assert result.n_iterations >= 1 and result.n_evaluations >= result.n_iterations
    np.testing.assert_allclose(result.value, gp.lml(), rtol=1e-12)


def test_gp__printout_before_fit_is_exact():
    gp, _, _ = _spec_gp()
    assert str(gp) == (
        f"GP(...)\n  lml: {gp.lml()}\n"
        "  OffsetMean(): OffsetMean\n    offset: 0.5\n"
        "  SumCov(covariances=...): SumCov\n"
        "    LinearCov(): LinearCov\n      scale: 1.0\n"
        "    EyeCov(dim=10): EyeCov\n      scale: 1.0"
    )


def test_gp__matches_glimix_reference(gp_reference):
    ref, X, y = gp_reference
    mean = OffsetMean(40)
    mean.offset = 0.5
    linear = LinearCov(X)
    eye = EyeCov(40)
    gp = GP(y, mean, SumCov([linear, eye]))
    assert gp.lml() == pytest.approx(ref["lml_before"], rel=1e-8)
    gp.fit(verbose=False)
    assert gp.lml() == pytest.approx(ref["lml_after"], rel=1e-5)
    assert mean.offset == pytest.approx(ref["offset"], rel=1e-3)
    assert linear.scale == pytest.approx(ref["linear_scale"], rel=1e-3)
    assert eye.scale == pytest.approx(ref["eye_scale"], rel=1e-3)


def _rich_gp(seed, n=6):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    G = rng.normal(size=(n, 3))
    mean = SumMean([LinearMean(X), OffsetMean(n)])
    cov = SumCov([LinearCov(G), EyeCov(n), FreeFormCov(n), GivenCov(G @ G.T)])
    for parameter in [*mean.parameters().values(), *cov.parameters().values()]:
        parameter.free = rng.uniform(-1.0, 1.0, size=parameter.size)
    y = rng.normal(size=n)
    return GP(y, mean, cov), y, mean, cov


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gp_lml__equals_dense_multivariate_normal(seed):
    gp, y, mean, cov = _rich_gp(seed)
    expected = multivariate_normal.logpdf(y, mean.value(), cov.value())
    assert gp.lml() == pytest.approx(expected, rel=1e-12)
    assert gp.value() == gp.lml()


@settings(max_examples=25, deadline=None)
@given(
    offset=st.floats(-3, 3),
    log_linear=st.floats(-5, 3),
    log_eye=st.floats(-3, 3),
)
def test_gp_lml__equals_dense_oracle_at_arbitrary_scales(offset, log_linear, log_eye):
    gp, mean, cov = _spec_gp()
    mean.offset = offset
    cov.parameters()["SumCov[0].logscale"].free = [log_linear]
    cov.parameters()["SumCov[1].logscale"].free = [log_eye]
    expected = multivariate_normal.logpdf(_spec_y(), mean.value(), cov.value())
    assert gp.lml() == pytest.approx(expected, rel=1e-10)


def test_gp_lml__invariant_to_permuting_samples():
    gp, y, mean, cov = _rich_gp(3)
    order = np.random.default_rng(0).permutation(y.size)
    K = cov.value()[np.ix_(order, order)]
    permuted_mean = OffsetMean(y.size)
    permuted_mean.offset = 0.0
    permuted = GP(y[order] - mean.value()[order], permuted_mean, GivenCov(K))
    assert permuted.lml() == pytest.approx(gp.lml(), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_gp_gradient__matches_finite_differences(seed):
    gp, _, _, _ = _rich_gp(seed)
    parameters = gp.parameters()
    gradient = gp.gradient()
    assert list(gradient) == list(parameters)
    for key, parameter in parameters.items():
        numeric = free_gradient(parameter, gp.lml)
        analytic = np.atleast_1d(gradient[key])
        error = np.linalg.norm(analytic - numeric) / np.linalg.norm(numeric)
        assert error <= 1e-6, (key, error)


def test_gp_gradient__keys_match_seed():
    gp, _, _ = _spec_gp()
    gradient = gp.gradient()
    assert list(gradient) == [
        "GP[0].offset",
        "GP[1].SumCov[0].logscale",
        "GP[1].SumCov[1].logscale",
    ]
    assert all(isinstance(v, float) for v in gradient.values())


def test_gp_fit__fixed_parameters_stay():
    gp, mean, cov = _spec_gp()
    mean.fix_offset()
    cov.parameters()["SumCov[0].logscale"].fix()
    gp.fit(verbose=False)
    assert mean.offset == 0.5
    assert cov.parameters()["SumCov[0].logscale"].value == 1.0
    assert cov.parameters()["SumCov[1].logscale"].value != 1.0
    fixed_lml = gp.lml()
    mean.unfix_offset()
    cov.parameters()["SumCov[0].logscale"].unfix()
    gp.fit(verbose=False)
    assert gp.lml() > fixed_lml
    assert mean.offset == pytest.approx(0.7755803668772308, rel=1e-6)


def test_gp_fit__verbose_false_is_silent(capsys):
    gp, _, _ = _spec_gp()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gp.fit(verbose=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_gp_fit__verbose_reports_on_stderr(capsys):
    gp, _, _ = _spec_gp()
    gp.fit()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "iteration 1: objective" in captured.err


def test_gp_fit__verbose_progress_is_a_single_line(capsys):
    gp, _, _ = _spec_gp()
    result = gp.fit()
    err = capsys.readouterr().err
    assert result.n_iterations > 2
    assert err.count("\n") == 1 and err.endswith("\n")
    assert err.count("\r") == result.n_iterations - 1 and err.startswith("iteration 1: ")
    assert f"iteration {result.n_iterations}: objective" in err.rsplit("\r", 1)[1]


def test_gp_fit__warns_when_not_converged(monkeypatch):
    gp, _, _ = _spec_gp()

    def stalled(objective, parameters, **kwargs):
        return FitResult(False, 3, 4, "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT", -15.0)

    monkeypatch.setattr("kinmix.params.maximize", stalled)
    with pytest.warns(
        ConvergenceWarning, match=r"GP.fit did not converge after 3 iterations"
    ) as record:
        gp.fit(verbose=False)
    assert record[0].filename == __file__  # the warning points at the caller of fit


@pytest.mark.parametrize(
    ("y", "mean", "cov", "match"),
    [
        ([1.0, np.nan, 0.0], OffsetMean(3), EyeCov(3), "y contains 1 non-finite"),
        (np.ones((3, 2)), OffsetMean(3), EyeCov(3), "y must be one-dimensional"),
        (np.ones(3), OffsetMean(4), EyeCov(3), "mean has length 4 but the outcome has 3"),
        (np.ones(3), OffsetMean(3), EyeCov(2), r"cov has shape \(2, 2\) but the outcome has 3"),
    ],
)
def test_gp__bad_input_raises(y, mean, cov, match):
    with pytest.raises(InputError, match=match):
        GP(y, mean, cov)


def test_gp__singular_covariance_raises():
    gp = GP(np.zeros(3), OffsetMean(3), LinearCov(np.ones((3, 1))))
    with pytest.raises(FitError, match="not positive definite"):
        gp.lml()
    with pytest.raises(FitError, match="not positive definite"):
        gp.gradient()


@settings(max_examples=20, deadline=None)
@given(c=st.floats(0.1, 10.0))
def test_gp_lml__scaling_outcome_shifts_by_log_c(c):
    gp, mean, _ = _spec_gp()
    mean2 = offset_mean()
    mean2.offset = c * mean.offset
    cov2 = linear_eye_cov()
    for p in cov2.parameters().values():
        p.value = c**2 * p.value
    scaled = GP(c * _spec_y(), mean2, cov2)
    assert scaled.lml() == pytest.approx(gp.lml() - 10 * np.log(c), rel=1e-10, abs=1e-10)


def test_gp_fit__vector_parameters_reach_a_stationary_point():
    rng = np.random.default_rng(11)
    n = 30
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    G = rng.normal(size=(n, 5)) / np.sqrt(5)
    y = X @ [0.5, -1.0] + G @ rng.normal(size=5) + rng.normal(scale=0.7, size=n)
    mean = LinearMean(X)
    cov = SumCov([GivenCov(G @ G.T), EyeCov(n)])
    gp = GP(y, mean, cov)
    before = gp.lml()
    gp.fit(verbose=False)
    assert gp.lml() > before
    gradient = np.concatenate([np.atleast_1d(g) for g in gp.gradient().values()])
    assert np.max(np.abs(gradient)) < 1e-3
    # At the optimum the effect sizes are generalised least squares given K.
    K = cov.value()
    beta = np.linalg.solve(X.T @ np.linalg.solve(K, X), X.T @ np.linalg.solve(K, y))
    np.testing.assert_allclose(mean.effsizes, beta, rtol=1e-4, atol=1e-6)
