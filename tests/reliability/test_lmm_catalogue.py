"""Catalogue: bad and edge-case inputs of :class:`kinmix.LMM`, :func:`kinmix.economic_qs`,
:func:`kinmix.estimate_h2` and :class:`kinmix.LinearMixedModel`.

Each case has a short id (the first column of the table in ``docs/reliability.md``) and
checks one behaviour: a :class:`kinmix.InputError`/:class:`kinmix.FitError` whose message
names the input, a kinmix warning stating the value, or the right answer checked against a
dense oracle.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import kinmix
from kinmix import (
    LMM,
    BoundaryWarning,
    FitError,
    InputError,
    KinmixError,
    KinmixWarning,
    LinearMixedModel,
    economic_qs,
    estimate_h2,
)
from kinmix.constants import DELTA_BOUNDS

from ._data import case_params, dense_lml, fitted_lmm, h2_field, problem

P = problem()
n = P.n
K5, QS5 = P.low_rank(5)
Q0 = P.QS[0][0]


def _qs_with(Q0, S0):
    return ((Q0, None), S0)


def _not_psd() -> np.ndarray:
    S, Q = np.linalg.eigh(P.K)
    S[0] = -0.5 * S[-1]
    return (Q * S) @ Q.T


# (id, call, exception, message pattern)
REFUSALS = [
    ("lmm-y-nan", lambda: LMM(np.r_[np.nan, P.y[1:]], P.X, P.QS), InputError, "y contains"),
    ("lmm-y-inf", lambda: LMM(np.r_[P.y[:-1], np.inf], P.X, P.QS), InputError, "y contains"),
    (
        "lmm-X-nan",
        lambda: LMM(P.y, np.where(P.X > 1, np.nan, P.X), P.QS),
        InputError,
        "X contains",
    ),
    ("lmm-y-strings", lambda: LMM(["a"] * n, P.X, P.QS), InputError, "y must be numeric"),
    ("lmm-y-2d", lambda: LMM(np.column_stack([P.y, P.y]), P.X, P.QS), InputError, "y must be one"),
    ("lmm-X-rows", lambda: LMM(P.y, P.X[:-1], P.QS), InputError, "X has 29 rows"),
    ("lmm-X-3d", lambda: LMM(P.y, P.X[:, :, None], P.QS), InputError, "X must be two"),
    ("lmm-n-le-c", lambda: LMM(P.y[:2], P.X[:2], None), InputError, "at least 3 samples"),
    ("lmm-n1", lambda: LMM(P.y[:1], P.X[:1, :1], None), InputError, "at least 2 samples"),
    ("lmm-empty", lambda: LMM(np.empty(0), np.empty((0, 1)), None), InputError, "0 samples"),
    (
        "lmm-X-duplicated-column",
        lambda: LMM(P.y, np.column_stack([P.X, P.X[:, 1]]), P.QS),
        InputError,
        "X has 3 columns but rank 2",
    ),
    (
        "lmm-X-rank-deficient",
        lambda: LMM(P.y, np.column_stack([P.X, P.X @ [2.0, 3.0]]), P.QS),
        InputError,
        "rank 2",
    ),
    ("lmm-QS-is-array", lambda: LMM(P.y, P.X, P.K), InputError, r"QS must be a tuple"),
    ("lmm-QS-malformed", lambda: LMM(P.y, P.X, (Q0, P.QS[1])), InputError, "QS must be a tuple"),
    ("lmm-QS-wrong-size", lambda: LMM(P.y, P.X, economic_qs(P.K[:5, :5])), InputError, "5 rows"),
    (
        "lmm-QS-S0-length",
        lambda: LMM(P.y, P.X, _qs_with(Q0, P.QS[1][:-1])),
        InputError,
        "eigenvalues; they must agree",
    ),
    (
        "lmm-QS-S0-nan",
        lambda: LMM(P.y, P.X, _qs_with(Q0, np.r_[np.nan, P.QS[1][1:]])),
        InputError,
        r"S0\) contains",
    ),
    (
        "lmm-QS-S0-negative",
        lambda: LMM(P.y, P.X, _qs_with(Q0, np.r_[-P.QS[1][-1], P.QS[1][1:]])),
        InputError,
        "not positive semi-definite",
    ),
    pytest.param(
        "lmm-QS-Q0-scaled",
        lambda: LMM(P.y, P.X, _qs_with(2 * Q0, P.QS[1])),
        InputError,
        "orthonormal",
    ),
    pytest.param(
        "lmm-QS-Q0-duplicated-columns",
        lambda: LMM(P.y, P.X, _qs_with(np.column_stack([Q0[:, :-1], Q0[:, -2]]), P.QS[1])),
        InputError,
        "orthonormal",
    ),
    pytest.param(
        "lmm-y-square-overflows",
        lambda: fitted_lmm(np.r_[1e300, P.y[1:]], P.X, P.QS),
        InputError,
        "y .*overflow",
    ),
    pytest.param(
        "lmm-y-complex",
        lambda: LMM(P.y + 1j, P.X, P.QS),
        InputError,
        "y .*complex",
    ),
    (
        "qs-K-asymmetric",
        lambda: economic_qs(P.K + np.triu(np.ones((n, n)))),
        InputError,
        "symmetric",
    ),
    ("qs-K-not-psd", lambda: economic_qs(_not_psd()), InputError, "not positive semi-definite"),
    ("qs-K-zeros", lambda: economic_qs(np.zeros((n, n))), InputError, "no positive eigenvalue"),
    (
        "qs-K-nan",
        lambda: economic_qs(np.where(np.eye(n) > 0, np.nan, P.K)),
        InputError,
        "K contains",
    ),
    ("qs-K-not-square", lambda: economic_qs(P.K[:, :5]), InputError, "K must be square"),
    (
        "qs-linear-zero",
        lambda: kinmix.economic_qs_linear(np.zeros((n, 3))),
        InputError,
        "G is zero",
    ),
    pytest.param(
        "qs-rtol-nan",
        lambda: economic_qs(P.K, rtol=float("nan")),
        InputError,
        "rtol",
    ),
    pytest.param(
        "qs-rtol-string",
        lambda: economic_qs(P.K, rtol="a"),
        InputError,
        "rtol",
    ),
    ("state-fix-unknown", lambda: LMM(P.y, P.X, P.QS).fix("foo"), InputError, "param must be one"),
    (
        "state-unfix-delta-no-kinship",
        lambda: LMM(P.y, P.X).unfix("delta"),
        InputError,
        "delta cannot be unfixed",
    ),
    (
        "state-delta-above-1",
        lambda: setattr(LMM(P.y, P.X, P.QS), "delta", 2.0),
        InputError,
        r"\[0, 1\]",
    ),
    (
        "state-delta-negative",
        lambda: setattr(LMM(P.y, P.X, P.QS), "delta", -0.1),
        InputError,
        r"\[0, 1\]",
    ),
    (
        "state-delta-nan",
        lambda: setattr(LMM(P.y, P.X, P.QS), "delta", np.nan),
        InputError,
        "delta",
    ),
    pytest.param(
        "state-delta-string",
        lambda: setattr(LMM(P.y, P.X, P.QS), "delta", "a"),
        InputError,
        "delta",
    ),
    ("state-scale-zero", lambda: setattr(LMM(P.y, P.X, P.QS), "scale", 0.0), InputError, "scale"),
    (
        "state-beta-size",
        lambda: setattr(LMM(P.y, P.X, P.QS), "beta", [1.0]),
        InputError,
        "beta has 1",
    ),
    pytest.param(
        "lmm-y-constant",
        lambda: fitted_lmm(np.ones(n), P.X, P.QS),
        InputError,
        "y is fitted exactly",
    ),
    pytest.param(
        "lmm-y-perfectly-fitted",
        lambda: fitted_lmm(P.X @ [1.0, 2.0], P.X, P.QS),
        InputError,
        "y is fitted exactly",
    ),
    pytest.param(
        "lmm-delta-0-rank-deficient-K",
        lambda: _fit_at_delta_zero(QS5),
        FitError,
        "delta = 0",
    ),
    ("h2-y-nan", lambda: estimate_h2(np.r_[np.nan, P.y[1:]], P.X, P.K), InputError, "y contains"),
    ("h2-K-wrong-size", lambda: estimate_h2(P.y, P.X, P.K[:5, :5]), InputError, "rows"),
    pytest.param(
        "h2-y-constant",
        lambda: estimate_h2(np.ones(n), P.X, P.K),
        InputError,
        "y is fitted exactly",
    ),
    pytest.param(
        "hail-log-gamma-string",
        lambda: _hail().compute_neg_log_reml("a"),
        InputError,
        "log_gamma",
    ),
    pytest.param(
        "hail-log-gamma-nan",
        lambda: _hail().compute_neg_log_reml(float("nan")),
        InputError,
        "log_gamma",
    ),
    pytest.param(
        "hail-fit-log-gamma-inf",
        lambda: _hail().fit(log_gamma=float("inf")),
        InputError,
        "log_gamma",
    ),
    pytest.param(
        "hail-bounds-string",
        lambda: _hail().fit(bounds="ab"),
        InputError,
        "bounds",
    ),
    pytest.param(
        "hail-bounds-reversed",
        lambda: _hail().fit(bounds=(5.0, -5.0)),
        InputError,
        "bounds",
    ),
    pytest.param(
        "hail-bounds-nan",
        lambda: _hail().fit(bounds=(float("nan"), 5.0)),
        InputError,
        "bounds",
    ),
    (
        "hail-px-no-columns",
        lambda: LinearMixedModel(P.y, np.empty((n, 0)), P.QS[1]),
        InputError,
        "px has 0",
    ),
    (
        "hail-alternatives-before-fit",
        lambda: _hail().fit_alternatives_numpy(P.G),
        FitError,
        "not fit",
    ),
]


def _hail() -> LinearMixedModel:
    return LinearMixedModel.from_kinship(P.y, P.X, P.K)[0]


def _fit_at_delta_zero(QS):
    model = LMM(P.y, P.X, QS)
    model.delta = 0.0
    model.fix("delta")
    model.fit(verbose=False)
    return model.lml()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    case_params(REFUSALS),
)
def test_refused_with_a_message_naming_the_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


# -- accepted inputs: the right answer --------------------------------------------------------


def _assert_matches_dense(model: LMM, y, X, K, rtol=1e-9):
    oracle = dense_lml(y, X, K, delta=model.delta, scale=model.scale, beta=model.beta)
    assert model.lml() == pytest.approx(oracle, rel=rtol, abs=rtol)


def _same_fit(a: LMM, b: LMM, rtol=1e-9):
    assert a.delta == pytest.approx(b.delta, rel=rtol, abs=1e-9)
    assert a.scale == pytest.approx(b.scale, rel=rtol)
    assert a.lml() == pytest.approx(b.lml(), rel=rtol)


REFERENCE = fitted_lmm(P.y, P.X, P.QS)


@pytest.mark.parametrize(
    ("y", "X"),
    [
        pytest.param(list(P.y), P.X.tolist(), id="lmm-lists"),
        pytest.param(pd.Series(P.y), pd.DataFrame(P.X, columns=["one", "x"]), id="lmm-pandas"),
        pytest.param(P.y[:, None], P.X, id="lmm-y-column"),
    ],
)
def test_containers_give_the_numpy_answer(y, X):
    _same_fit(fitted_lmm(y, X, P.QS), REFERENCE)


def test_lmm_float32_inputs_agree_to_single_precision():
    model = fitted_lmm(P.y.astype(np.float32), P.X.astype(np.float32), P.QS)
    y32, X32 = P.y.astype(np.float32).astype(float), P.X.astype(np.float32).astype(float)
    _same_fit(model, fitted_lmm(y32, X32, P.QS))
    assert model.delta == pytest.approx(REFERENCE.delta, abs=1e-5)


def test_lmm_bool_y_is_fitted_as_zero_one():
    y = P.y > 0
    _same_fit(fitted_lmm(y, P.X, P.QS), fitted_lmm(y.astype(float), P.X, P.QS))


def test_lmm_badly_scaled_independent_covariate_is_accepted():
    scaled = fitted_lmm(P.y, P.X * [1.0, 1e12], P.QS)
    _same_fit(scaled, REFERENCE, rtol=1e-7)
    assert scaled.beta[1] * 1e12 == pytest.approx(REFERENCE.beta[1], rel=1e-7)


def test_lmm_no_covariates_matches_the_dense_oracle():
    X = np.empty((n, 0))
    model = fitted_lmm(P.y, X, P.QS)
    _assert_matches_dense(model, P.y, X, P.K)


@pytest.mark.parametrize("factor", [1e10, 1e-10], ids=["lmm-y-times-1e10", "lmm-y-times-1e-10"])
def test_lmm_extreme_scales_scale_the_results(factor):
    model = fitted_lmm(factor * P.y, P.X, P.QS)
    assert model.delta == pytest.approx(REFERENCE.delta, abs=1e-7)
    assert model.scale == pytest.approx(factor**2 * REFERENCE.scale, rel=1e-7)
    np.testing.assert_allclose(model.beta, factor * REFERENCE.beta, rtol=1e-7)
    assert model.lml() == pytest.approx(REFERENCE.lml() - n * np.log(factor), rel=1e-9)


def test_lmm_n2_without_kinship_matches_the_dense_oracle():
    y, X = P.y[:2], P.X[:2, :1]
    model = fitted_lmm(y, X)
    assert model.lml() == pytest.approx(
        dense_lml(y, X, np.zeros((2, 2)), delta=1.0, scale=model.scale, beta=model.beta)
    )
    assert model.scale == pytest.approx((y[0] - y[1]) ** 2 / 4)


def test_lmm_n3_matches_the_dense_oracle():
    y, X, K = P.y[:3], P.X[:3, :1], P.K[:3, :3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoundaryWarning)
        model = fitted_lmm(y, X, economic_qs(K))
    _assert_matches_dense(model, y, X, K)


def test_lmm_rank_one_kinship_matches_the_dense_oracle():
    K1, QS1 = P.low_rank(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoundaryWarning)
        model = fitted_lmm(P.y, P.X, QS1)
    assert QS1[1].shape == (1,)
    _assert_matches_dense(model, P.y, P.X, K1)


def test_lmm_ill_conditioned_kinship_matches_the_dense_oracle():
    _, Q = np.linalg.eigh(P.K)
    K = (Q * np.logspace(-14, 0, n)) @ Q.T
    K = (K + K.T) / 2
    model = fitted_lmm(P.y, P.X, economic_qs(K))
    _assert_matches_dense(model, P.y, P.X, K, rtol=1e-7)


def test_lmm_delta_0_with_full_rank_kinship_matches_the_dense_oracle():
    model = LMM(P.y, P.X, P.QS)
    model.delta = 0.0
    model.fix("delta")
    model.fit(verbose=False)
    _assert_matches_dense(model, P.y, P.X, P.K)


def test_lmm_h2_truly_0_warns_on_the_boundary():
    complement = np.eye(n) - QS5[0][0] @ QS5[0][0].T
    y = complement @ P.y
    with pytest.warns(BoundaryWarning, match=r"no kinship effect \(h2 -> 0\)"):
        model = fitted_lmm(y, P.X[:, 1:], QS5)
    assert model.delta == pytest.approx(DELTA_BOUNDS[1], rel=1e-12)  # γ = 1e-5, GEMMA's


def test_lmm_h2_truly_1_warns_on_the_boundary():
    y = QS5[0][0] @ np.arange(1.0, 6.0)
    with pytest.warns(BoundaryWarning, match=r"h2 -> 1"):
        model = fitted_lmm(y, P.X[:, 1:], QS5)
    assert model.delta == pytest.approx(DELTA_BOUNDS[0], rel=1e-9)  # γ = 1e5, GEMMA's


def test_lmm_identity_kinship_warns_that_h2_is_unidentifiable():
    with pytest.warns(KinmixWarning, match="unidentifiable"):
        fitted_lmm(P.y, P.X, economic_qs(np.eye(n)))


def test_state_properties_before_fit_are_the_documented_start():
    model = LMM(P.y, P.X, P.QS)
    assert (model.delta, model.scale) == (0.5, 1.0)
    np.testing.assert_array_equal(model.beta, np.zeros(2))
    _assert_matches_dense(model, P.y, P.X, P.K)


def test_state_hail_attributes_are_none_before_fit():
    model = _hail()
    assert model.h_sq is None and model.beta is None and model.h_sq_standard_error is None


# -- estimate_h2 ----------------------------------------------------------------------------


H2_REFERENCE = estimate_h2(P.y, P.X, P.K)


@pytest.mark.parametrize(
    "X",
    [
        pytest.param(P.X.tolist(), id="h2-X-list"),
        pytest.param(pd.DataFrame(P.X), id="h2-X-pandas"),
    ],
)
def test_h2_containers_give_the_numpy_answer(X):
    result = estimate_h2(P.y, X, P.K)
    assert h2_field(result, "h2") == pytest.approx(h2_field(H2_REFERENCE, "h2"), rel=1e-9)
    assert h2_field(result, "lml") == pytest.approx(h2_field(H2_REFERENCE, "lml"), rel=1e-9)


def test_h2_one_dimensional_X_is_one_column():
    one_column = estimate_h2(P.y, np.ones(n), P.K)
    reference = estimate_h2(P.y, np.ones((n, 1)), P.K)
    assert h2_field(one_column, "h2") == pytest.approx(h2_field(reference, "h2"), rel=1e-12)


def test_h2_lml_matches_the_dense_restricted_oracle():
    h2, scale = h2_field(H2_REFERENCE, "h2"), h2_field(H2_REFERENCE, "scale")
    V = scale * (h2 * P.K + (1 - h2) * np.eye(n))
    Vi = np.linalg.inv(V)
    A = P.X.T @ Vi @ P.X
    beta = np.linalg.solve(A, P.X.T @ Vi @ P.y)
    r = P.y - P.X @ beta
    reml = -0.5 * (
        (n - 2) * np.log(2 * np.pi)
        + np.linalg.slogdet(V)[1]
        + np.linalg.slogdet(A)[1]
        - np.linalg.slogdet(P.X.T @ P.X)[1]
        + r @ Vi @ r
    )
    assert h2_field(H2_REFERENCE, "lml") == pytest.approx(reml, rel=1e-9)


def test_h2_truly_0_is_reported_with_a_boundary_warning():
    complement = np.eye(n) - QS5[0][0] @ QS5[0][0].T
    with pytest.warns(BoundaryWarning, match="h2"):
        result = estimate_h2(complement @ P.y, P.X[:, 1:], K5)
    assert h2_field(result, "h2") < 1e-3


def test_h2_identity_kinship_warns_that_h2_is_unidentifiable():
    with pytest.warns(KinmixWarning, match="unidentifiable"):
        result = estimate_h2(P.y, P.X, np.eye(n))
    se = h2_field(result, "h2_se")
    assert not (np.isfinite(se) and se > 1)


def test_every_refusal_is_a_kinmix_error():
    """The catalogue's errors are caught by ``except kinmix.KinmixError``."""
    assert issubclass(InputError, KinmixError) and issubclass(FitError, KinmixError)
