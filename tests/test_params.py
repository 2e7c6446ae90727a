import warnings

import numpy as np
import pytest

from kinmix.errors import InputError
from kinmix.params import (
    IDENTITY,
    LOG,
    LOGIT,
    LOWER_CHOLESKY,
    FitResult,
    Parameter,
    maximize,
    minimize_free,
)


@pytest.mark.parametrize(
    ("transform", "value"),
    [
        (IDENTITY, np.array([-1.5, 0.0, 2.0])),
        (LOG, np.array([1e-3, 1.0, 40.0])),
        (LOGIT, np.array([0.01, 0.5, 0.93])),
        (LOWER_CHOLESKY, np.array([[1.2, 0.0, 0.0], [-0.4, 0.3, 0.0], [2.0, 0.7, 5.0]])),
    ],
)
def test_transform__round_trip(transform, value):
    free = transform.to_free(value)
    assert free.ndim == 1
    np.testing.assert_allclose(transform.to_value(free, value.shape), value, rtol=1e-14)


def test_transform__known_free_coordinates():
    np.testing.assert_allclose(LOG.to_free(np.array([np.e])), [1.0])
    np.testing.assert_allclose(LOGIT.to_free(np.array([0.5])), [0.0])
    L = np.array([[1.0, 0.0], [0.5, 2.0]])
    np.testing.assert_allclose(LOWER_CHOLESKY.to_free(L), [0.5, 0.0, np.log(2.0)])


@pytest.mark.parametrize("transform", [IDENTITY, LOG, LOGIT, LOWER_CHOLESKY])
def test_transform__pullback_matches_finite_differences(transform):
    rng = np.random.default_rng(3)
    shape = (3, 3) if transform is LOWER_CHOLESKY else (4,)
    free = rng.normal(size=6 if transform is LOWER_CHOLESKY else 4)
    weights = rng.normal(size=shape)

    def f(theta):
        return float(np.sum(weights * transform.to_value(theta, shape)))

    step = 1e-6
    numeric = np.array(
        [(f(free + step * e) - f(free - step * e)) / (2 * step) for e in np.eye(free.size)]
    )
    analytic = transform.pullback(free, weights)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)


def test_parameter__scalar_value_and_free():
    p = Parameter("logscale", 2.5, transform=LOG)
    assert p.value == pytest.approx(2.5)
    assert isinstance(p.value, float)
    np.testing.assert_allclose(p.free, [np.log(2.5)])
    p.free = [0.0]
    assert p.value == 1.0
    assert p.shape == ()
    assert p.size == 1


def test_parameter__matrix_value():
    p = Parameter("Lu", np.eye(2), transform=LOWER_CHOLESKY)
    p.value = [[1.0, 0.0], [0.5, 2.0]]
    np.testing.assert_allclose(p.free, [0.5, 0.0, np.log(2.0)])
    assert p.size == 3
    np.testing.assert_allclose(p.value, [[1.0, 0.0], [0.5, 2.0]])


def test_parameter__listeners_fire_on_every_change():
    p = Parameter("offset", 0.0)
    calls = []
    p.listen(lambda: calls.append(p.value))
    p.value = 1.0
    p.free = [2.0]
    assert calls == [1.0, 2.0]


def test_parameter__fix_and_unfix():
    p = Parameter("offset", 0.0)
    assert not p.fixed
    p.fix()
    assert p.fixed
    p.unfix()
    assert not p.fixed


def test_parameter__bounds_broadcast_and_listed():
    p = Parameter("b", np.zeros(2), bounds=(-1.0, 3.0))
    assert p.bounds == [(-1.0, 3.0), (-1.0, 3.0)]
    q = Parameter("b", np.zeros(2), bounds=[(-1.0, 1.0), (0.0, 2.0)])
    assert q.bounds == [(-1.0, 1.0), (0.0, 2.0)]
    assert Parameter("c", 0.0).bounds == [(-np.inf, np.inf)]


def test_parameter__repr_names_state():
    p = Parameter("offset", 1.5)
    p.fix()
    assert repr(p) == "Parameter('offset', 1.5, transform=identity, fixed)"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"value": "abc"}, "offset must be numeric"),
        ({"value": np.nan}, "offset must be finite"),
        ({"value": 1.0, "bounds": [(0.0, 1.0), (0.0, 1.0)]}, "bounds of offset must be"),
        ({"value": 1.0, "bounds": (2.0, 1.0)}, "lower <= upper"),
    ],
)
def test_parameter__bad_construction_raises(kwargs, match):
    with pytest.raises(InputError, match=match):
        Parameter("offset", **kwargs)


@pytest.mark.parametrize(
    ("transform", "value", "match"),
    [
        (LOG, -1.0, "must be positive"),
        (LOGIT, 1.0, "strictly between 0 and 1"),
        (LOWER_CHOLESKY, np.ones(3), "must be a square matrix"),
        (LOWER_CHOLESKY, np.ones((2, 2)), "must be lower triangular"),
        (LOWER_CHOLESKY, -np.eye(2), "must have a positive diagonal"),
    ],
)
def test_parameter__value_outside_domain_raises(transform, value, match):
    with pytest.raises(InputError, match=match):
        Parameter("theta", value, transform=transform)


def test_parameter__bad_assignment_raises():
    p = Parameter("effsizes", np.zeros(2))
    with pytest.raises(InputError, match=r"effsizes must have shape \(2,\)"):
        p.value = [1.0, 2.0, 3.0]
    with pytest.raises(InputError, match="free coordinates of effsizes must have 2"):
        p.free = [1.0]
    with pytest.raises(InputError, match="free coordinates of effsizes must be finite"):
        p.free = [1.0, np.inf]


def _quadratic_problem():
    """f(a, b) = -(a - 1)² - (log b - 2)², a on the identity scale, b on the log scale."""
    a = Parameter("a", 0.0)
    b = Parameter("b", 1.0, transform=LOG)
    params = {"a": a, "b": b}

    def objective():
        la = a.free[0]
        lb = b.free[0]
        value = -((la - 1.0) ** 2) - (lb - 2.0) ** 2
        return value, {"a": -2 * (la - 1.0), "b": -2 * (lb - 2.0)}

    return params, objective


def test_maximize__finds_optimum_and_leaves_it_in_parameters():
    params, objective = _quadratic_problem()
    result = maximize(objective, params)
    assert isinstance(result, FitResult)
    assert result.converged
    assert result.n_iterations >= 1
    assert result.value == pytest.approx(0.0, abs=1e-12)
    assert params["a"].value == pytest.approx(1.0, abs=1e-6)
    assert params["b"].value == pytest.approx(np.exp(2.0), rel=1e-6)


def test_maximize__fixed_parameter_does_not_move():
    params, objective = _quadratic_problem()
    params["b"].fix()
    result = maximize(objective, params)
    assert params["b"].value == 1.0
    assert params["a"].value == pytest.approx(1.0, abs=1e-6)
    assert result.value == pytest.approx(-4.0, abs=1e-10)
    params["b"].unfix()
    maximize(objective, params)
    assert params["b"].value == pytest.approx(np.exp(2.0), rel=1e-6)


def test_maximize__respects_bounds():
    a = Parameter("a", 0.0, bounds=(-5.0, 0.25))

    def objective():
        la = a.free[0]
        return -((la - 1.0) ** 2), {"a": -2 * (la - 1.0)}

    result = maximize(objective, {"a": a})
    assert a.value == 0.25
    assert result.value == pytest.approx(-0.5625)


def test_maximize__no_unfixed_parameters_evaluates_once():
    params, objective = _quadratic_problem()
    for p in params.values():
        p.fix()
    result = maximize(objective, params)
    assert result == FitResult(True, 0, 1, "no unfixed parameters", -5.0)


def test_maximize__verbose_reports_on_stderr_only(capsys):
    params, objective = _quadratic_problem()
    maximize(objective, params, verbose=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("iteration 1: objective ")


def test_maximize__silent_when_not_verbose(capsys):
    params, objective = _quadratic_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        maximize(objective, params)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_minimize_free__factr_and_pgtol_reach_scipy():
    def rosenbrock(x):
        f = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        g = np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)])
        return f, g

    bounds = [(-np.inf, np.inf)] * 2
    _, loose = minimize_free(rosenbrock, np.array([-1.2, 1.0]), bounds, factr=1e12, pgtol=1e-2)
    x, tight = minimize_free(rosenbrock, np.array([-1.2, 1.0]), bounds, factr=10, pgtol=1e-10)
    assert tight.converged and loose.converged
    assert loose.n_iterations < tight.n_iterations
    np.testing.assert_allclose(x, [1.0, 1.0], atol=1e-5)


def test_minimize_free__iteration_limit_is_not_converged():
    def f(x):
        return float(np.sum(np.cosh(x))), np.sinh(x)

    _, result = minimize_free(f, np.array([3.0, -2.0]), [(-np.inf, np.inf)] * 2, max_iterations=1)
    assert not result.converged
    assert "LIMIT" in result.message.upper()


def test_maximize__objective_error_restores_starting_values():
    a = Parameter("a", 0.5)

    def objective():
        la = a.free[0]
        if la > 2.0:
            raise FloatingPointError("objective undefined beyond 2")
        return la, {"a": 1.0}

    with pytest.raises(FloatingPointError, match="objective undefined beyond 2"):
        maximize(objective, {"a": a})
    assert a.value == 0.5


def test_parameter_key__maps_user_names_and_refuses_others():
    from kinmix.params import parameter_key

    keys = {"beta": "beta", "delta": "logitdelta"}
    assert parameter_key(keys, "delta", "var_name") == "logitdelta"
    with pytest.raises(InputError, match="var_name must be one of 'beta', 'delta'; got 'h2'"):
        parameter_key(keys, "h2", "var_name")


def test_delta_bounds__the_lmm_searches_gemmas_range_the_glmms_glimix_cores():
    """The LMM kernel's δ range is GEMMA's γ ∈ [1e-5, 1e5]; the GLMMs keep glimix-core's
    δ ∈ [√ε, 1 − √ε], which their reference fits need (docs/reliability.md)."""
    from scipy.special import logit

    from kinmix.constants import DELTA_BOUNDS, GAMMA_BOUNDS, SQRT_EPS
    from kinmix.glmm import GLMMExpFam
    from kinmix.kernel.null_model import LOG_GAMMA_LIMIT

    np.testing.assert_allclose(DELTA_BOUNDS, 1 / (1 + np.array(GAMMA_BOUNDS[::-1])), rtol=1e-15)
    np.testing.assert_allclose(LOG_GAMMA_LIMIT, np.log(GAMMA_BOUNDS[1]), rtol=1e-15)
    glmm = GLMMExpFam(np.array([0.0, 1.0, 1.0, 0.0]), ("bernoulli",), np.ones((4, 1)), None)
    lower, upper = glmm.parameters()["logitdelta"].bounds[0]
    np.testing.assert_allclose([lower, upper], logit([SQRT_EPS, 1 - SQRT_EPS]), rtol=1e-12)
    assert upper == -lower
