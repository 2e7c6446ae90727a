"""Catalogue: bad and edge-case inputs of :class:`kinmix.GLMMExpFam` and :class:`kinmix.GP`.

Where no maximum exists (perfect separation, all-equal outcomes) or the optimiser stops on
a hard-coded bound while the gradient still pushes outward, kinmix must say so with a
warning, not return effects of 20–800 silently.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import logit

from kinmix import GP, GLMMExpFam, KinmixWarning
from kinmix.cov import EyeCov
from kinmix.mean import OffsetMean

from ._data import problem, refusal_test

P = problem()
n = P.n
BERNOULLI = (P.y > np.median(P.y)).astype(float)


def _fitted(y, lik, X, QS=P.QS):
    model = GLMMExpFam(y, lik, X, QS)
    model.fit(verbose=False)
    return model


REFUSALS = [
    (
        "glmm-bernoulli-2",
        lambda: GLMMExpFam(np.full(n, 2.0), ("bernoulli",), P.X, P.QS),
        "Bernoulli",
    ),
    (
        "glmm-bernoulli-half",
        lambda: GLMMExpFam(np.full(n, 0.5), ("bernoulli",), P.X, P.QS),
        "support",
    ),
    ("glmm-poisson-negative", lambda: GLMMExpFam(-np.ones(n), ("poisson",), P.X, P.QS), "Poisson"),
    (
        "glmm-y-nan",
        lambda: GLMMExpFam(np.r_[np.nan, BERNOULLI[1:]], ("bernoulli",), P.X, P.QS),
        "y",
    ),
    pytest.param(
        "glmm-empty",
        lambda: GLMMExpFam(np.empty(0), ("bernoulli",), np.empty((0, 1))),
        "0 samples",
    ),
    ("glmm-lik-unknown", lambda: GLMMExpFam(BERNOULLI, ("gauss",), P.X, P.QS), "lik name must be"),
    (
        "glmm-binomial-0-trials",
        lambda: GLMMExpFam(np.zeros(n), ("binomial", np.zeros(n)), P.X, P.QS),
        r"ntrials\[0\] = 0",
    ),
    (
        "glmm-binomial-successes-above-trials",
        lambda: GLMMExpFam(np.full(n, 3.0), ("binomial", np.full(n, 2.0)), P.X, P.QS),
        "support",
    ),
    (
        "glmm-QS-is-array",
        lambda: GLMMExpFam(BERNOULLI, ("bernoulli",), P.X, P.K),
        "QS must be a tuple",
    ),
    (
        "glmm-X-rows",
        lambda: GLMMExpFam(BERNOULLI, ("bernoulli",), P.X[:-1], P.QS),
        "X has 29 rows",
    ),
    (
        "glmm-X-rank-deficient",
        lambda: GLMMExpFam(BERNOULLI, ("bernoulli",), np.column_stack([P.X, P.X]), P.QS),
        "rank 2",
    ),
    (
        "glmm-rtol-nan",
        lambda: GLMMExpFam(BERNOULLI, ("bernoulli",), P.X, P.QS, rtol=np.nan),
        "rtol",
    ),
    pytest.param(
        "glmm-rtol-string",
        lambda: GLMMExpFam(BERNOULLI, ("bernoulli",), P.X, P.QS, rtol="a"),
        "rtol",
    ),
    (
        "glmm-fix-unknown",
        lambda: GLMMExpFam(BERNOULLI, ("bernoulli",), P.X, P.QS).fix("foo"),
        "foo",
    ),
    (
        "glmm-delta-above-1",
        lambda: setattr(GLMMExpFam(BERNOULLI, ("bernoulli",), P.X, P.QS), "delta", 1.5),
        r"\[0, 1\]",
    ),
    pytest.param(
        "gp-mean-is-array",
        lambda: GP(P.y, np.zeros(n), EyeCov(n)),
        "mean must be",
    ),
    pytest.param(
        "gp-cov-is-array",
        lambda: GP(P.y, OffsetMean(n), np.eye(n)),
        "cov must be",
    ),
    ("gp-mean-wrong-size", lambda: GP(P.y, OffsetMean(n + 1), EyeCov(n)), "mean has length 31"),
    ("gp-y-nan", lambda: GP(np.r_[np.nan, P.y[1:]], OffsetMean(n), EyeCov(n)), "y contains"),
]


test_refused_with_a_message_naming_the_input = refusal_test(REFUSALS)


def test_glmm_perfectly_separated_outcome_warns():
    y = (P.X[:, 1] > 0).astype(float)
    with pytest.warns(KinmixWarning, match="separat"):
        _fitted(y, ("bernoulli",), P.X)


def test_glmm_all_equal_outcomes_warn():
    with pytest.warns(KinmixWarning, match="all equal|separat"):
        _fitted(np.ones(n), ("bernoulli",), P.X[:, :1])


def test_glmm_scale_on_its_bound_warns():
    y = (P.QS[0][0][:, -1] > 0).astype(float)
    with pytest.warns(KinmixWarning, match="scale"):
        _fitted(y, ("bernoulli",), P.X[:, :1])


def test_glmm_binomial_counts_of_a_million_are_finite_and_right():
    rng = np.random.default_rng(1)
    trials = np.full(n, 1e6)
    y = rng.binomial(10**6, 0.3, size=n).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KinmixWarning)
        model = _fitted(y, ("binomial", trials), P.X[:, :1])
    assert np.isfinite(model.lml())
    assert model.beta[0] == pytest.approx(logit(y.sum() / trials.sum()), abs=2e-3)


def test_glmm_bernoulli_without_kinship_is_logistic_regression():
    """With K = 0 the EP marginal is exact for δ → 1: β is the logistic-regression MLE."""
    model = GLMMExpFam(BERNOULLI, ("bernoulli",), P.X, None)
    model.delta = 1.0
    model.fix("delta")
    model.scale = 1e-6
    model.fix("scale")
    model.fit(verbose=False)
    beta = np.zeros(2)
    for _ in range(50):  # Newton's method on the logistic likelihood
        p = 1 / (1 + np.exp(-P.X @ beta))
        beta += np.linalg.solve(P.X.T @ (P.X * (p * (1 - p))[:, None]), P.X.T @ (BERNOULLI - p))
    np.testing.assert_allclose(model.beta, beta, rtol=1e-3, atol=1e-4)


def test_gp_offset_on_its_bound_warns():
    y = 1000.0 + P.y
    model = GP(y, OffsetMean(n), EyeCov(n))
    with pytest.warns(KinmixWarning, match="offset"):
        model.fit(verbose=False)
