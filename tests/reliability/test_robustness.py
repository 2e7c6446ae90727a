"""Numerical robustness: ill-conditioned kinships, nearly collinear covariates, tiny and
large n, agreement with dense and extended-precision (mpmath) oracles, and a δ search that
is never beaten by a fine grid over the same range.
"""

from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kinmix import LMM, InputError, economic_qs, economic_qs_linear, scan
from kinmix.constants import DELTA_BOUNDS, GAMMA_BOUNDS

from ._data import dense_lml, fitted_lmm, problem

SETTINGS = settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
#: log γ range searched by LMM.fit: GEMMA's γ ∈ [1e-5, 1e5].
LOG_GAMMA_MAX = float(np.log(GAMMA_BOUNDS[1]))


def _kinship(kind: str, n: int, rng) -> np.ndarray:
    if kind == "full":
        F = rng.normal(size=(n, 2 * n))
        return F @ F.T / (2 * n)
    if kind == "low-rank":
        F = rng.normal(size=(n, 4))
        return F @ F.T / 4
    if kind == "rank-1":
        f = rng.normal(size=n)
        return np.outer(f, f)
    _, Q = np.linalg.eigh(rng.normal(size=(n, n)) + rng.normal(size=(n, n)).T)
    K = (Q * np.logspace(-14, 0, n)) @ Q.T  # condition number 1e14
    return (K + K.T) / 2


def _quiet(callable_):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return callable_()


def _grid_best(y, X, QS, restricted: bool, points: int = 801) -> float:
    model = LMM(y, X, QS, restricted=restricted)
    model.fix("delta")
    best = -np.inf
    for delta in 1 / (1 + np.exp(-np.linspace(-LOG_GAMMA_MAX, LOG_GAMMA_MAX, points))):
        model.delta = float(np.clip(delta, *DELTA_BOUNDS))
        model.fit(verbose=False)
        best = max(best, model.lml())
    return best


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(["full", "low-rank", "rank-1", "ill-conditioned"]),
    restricted=st.booleans(),
    h2=st.floats(0.0, 1.0),
)
def test_delta_search_is_never_beaten_by_a_fine_grid(seed, kind, restricted, h2):
    rng = np.random.default_rng(seed)
    n = 25
    K = _kinship(kind, n, rng)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    u = rng.multivariate_normal(np.zeros(n), K / np.trace(K) * n, method="eigh")
    y = X @ [1.0, 0.5] + np.sqrt(h2) * u + np.sqrt(1 - h2) * rng.normal(size=n)
    QS = economic_qs(K)
    model = _quiet(lambda: fitted_lmm(y, X, QS, restricted=restricted))
    best = _grid_best(y, X, QS, restricted)
    assert model.lml() >= best - 1e-9 * max(1.0, abs(best))
    if not restricted:
        oracle = dense_lml(y, X, K, delta=model.delta, scale=model.scale, beta=model.beta)
        assert model.lml() == pytest.approx(oracle, rel=1e-7)


def test_nearly_collinear_covariates_give_the_well_conditioned_answer():
    P = problem()
    rng = np.random.default_rng(7)
    wiggle = rng.normal(size=P.n)
    X_near = np.column_stack([P.X, P.X[:, 1] + 1e-4 * wiggle])
    X_well = np.column_stack([P.X, wiggle])  # the same column space, well conditioned
    near, well = fitted_lmm(P.y, X_near, P.QS), fitted_lmm(P.y, X_well, P.QS)
    assert near.delta == pytest.approx(well.delta, abs=1e-6)
    assert near.lml() == pytest.approx(well.lml(), rel=1e-8)
    np.testing.assert_allclose(X_near @ near.beta, X_well @ well.beta, rtol=1e-5, atol=1e-8)


def test_numerically_collinear_covariates_are_refused_at_the_boundary():
    P = problem()
    wiggle = np.random.default_rng(7).normal(size=P.n)
    with pytest.raises(InputError, match="X"):
        fitted_lmm(P.y, np.column_stack([P.X, P.X[:, 1] + 1e-9 * wiggle]), P.QS)


def _mpmath_lml(y, X, K, delta, scale, beta, digits=50) -> float:
    """ML log-likelihood in ``digits``-digit arithmetic."""
    with mpmath.workdps(digits):
        n = len(y)
        V = mpmath.matrix(n, n)
        for i in range(n):
            for j in range(n):
                V[i, j] = scale * ((1 - mpmath.mpf(delta)) * mpmath.mpf(K[i, j]))
            V[i, i] += scale * mpmath.mpf(delta)
        r = mpmath.matrix(
            [mpmath.mpf(y[i]) - sum(X[i, j] * beta[j] for j in range(len(beta))) for i in range(n)]
        )
        quad = (r.T * mpmath.lu_solve(V, r))[0]
        value = -(n * mpmath.log(2 * mpmath.pi) + mpmath.log(mpmath.det(V)) + quad) / 2
        return float(value)


@pytest.mark.parametrize("delta", [1e-6, 0.3, 1 - 1e-6])
def test_ill_conditioned_kinship_matches_extended_precision(delta):
    rng = np.random.default_rng(11)
    n = 7
    K = _kinship("ill-conditioned", n, rng)
    y = rng.normal(size=n)
    X = np.ones((n, 1))
    QS = economic_qs(K)
    model = LMM(y, X, QS)
    model.delta = delta
    model.fix("delta")
    model.fit(verbose=False)
    # Eigenvalues below √ε·max(S) count as zero (documented): the model's K is the
    # truncation Q0 S0 Q0ᵀ, and the oracle evaluates that matrix in 50 digits.
    (Q0, _), S0 = QS
    assert S0.size == 4
    oracle = _mpmath_lml(y, X, (Q0 * S0) @ Q0.T, delta, model.scale, model.beta)
    assert model.lml() == pytest.approx(oracle, rel=1e-9)


def test_n3_matches_extended_precision():
    P = problem()
    y, X, K = P.y[:3], P.X[:3, :1], P.K[:3, :3]
    model = _quiet(lambda: fitted_lmm(y, X, economic_qs(K)))
    oracle = _mpmath_lml(y, X, K, model.delta, model.scale, model.beta)
    assert model.lml() == pytest.approx(oracle, rel=1e-10)


def _woodbury_lml(y, X, F, delta, scale, beta) -> float:
    r"""ML log-likelihood for :math:`K = FF^\top` through Woodbury and the determinant
    lemma on F itself (no eigendecomposition): an independent low-rank oracle."""
    n, r = F.shape
    a, b = scale * (1 - delta), scale * delta  # V = a FFᵀ + b I
    res = y - X @ beta
    inner = np.eye(r) + (a / b) * (F.T @ F)
    Fr = F.T @ res
    quad = (res @ res - (a / b) * Fr @ np.linalg.solve(inner, Fr)) / b
    logdet = n * np.log(b) + np.linalg.slogdet(inner)[1]
    return float(-0.5 * (n * np.log(2 * np.pi) + logdet + quad))


def test_large_n_with_rank_50_kinship_uses_the_low_rank_path():
    rng = np.random.default_rng(12)
    n, r = 20_000, 50
    F = rng.normal(size=(n, r)) / np.sqrt(r)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = X @ [1.0, -0.5] + F @ rng.normal(size=r) + rng.normal(size=n)
    QS = economic_qs_linear(F)
    assert QS[0][0].shape == (n, r) and QS[0][1] is None
    model = fitted_lmm(y, X, QS)
    oracle = _woodbury_lml(y, X, F, model.delta, model.scale, model.beta)
    assert model.lml() == pytest.approx(oracle, rel=1e-10)
    G = rng.integers(0, 3, size=(n, 4)).astype(float)
    table = scan(G, y, X, QS)
    assert table["chi2"].notna().all() and (table["pvalue"] > 0).all()
    # the χ² of the first variant from two Woodbury likelihoods at the null δ
    alt = LMM(y, np.column_stack([X, G[:, 0]]), QS)
    alt.delta = model.delta
    alt.fix("delta")
    alt.fit(verbose=False)
    lml1 = _woodbury_lml(y, alt.X, F, alt.delta, alt.scale, alt.beta)
    assert table["chi2"].iloc[0] == pytest.approx(2 * (lml1 - model.lml()), rel=1e-6)
