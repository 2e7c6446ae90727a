"""Exact per-variant tests: the δ search against dense likelihoods, and the statistics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.optimize import minimize_scalar

from kinmix.kernel import exact as _exact
from kinmix.linalg import RotatedDesign


def _cohort(seed: int, n: int = 70, rank: int | None = None, m: int = 6):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, rank or n))
    K = Z @ Z.T / Z.shape[1]
    S, Q = np.linalg.eigh(K)
    keep = S > 1e-9 * S.max()
    S, Q = S[keep], Q[:, keep]
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    G = rng.binomial(2, rng.uniform(0.1, 0.5, m), (n, m)).astype(float)
    y = X @ [1.0, 0.5] + 0.3 * G[:, 0]
    y += rng.multivariate_normal(np.zeros(n), 0.7 * K + 0.6 * np.eye(n))
    return K, S, Q, X, G, y


def _dense_lml(K, X, y, g, delta: float, restricted: bool) -> float:
    """Profile (restricted) log-likelihood of [X, g] from the dense covariance."""
    n = y.shape[0]
    M = X if g is None else np.column_stack([X, g])
    V = (1.0 - delta) * K + delta * np.eye(n)
    Vi = np.linalg.inv(V)
    beta = np.linalg.solve(M.T @ Vi @ M, M.T @ Vi @ y)
    r = y - M @ beta
    rss = float(r @ Vi @ r)
    if not restricted:
        return float(stats.multivariate_normal.logpdf(y, M @ beta, rss / n * V))
    # Error contrasts with an orthonormal basis L of M's orthogonal complement.
    q = M.shape[1]
    L = np.linalg.qr(M, mode="complete")[0][:, q:]
    cov = rss / (n - q) * (L.T @ V @ L)
    return float(stats.multivariate_normal.logpdf(L.T @ y, np.zeros(n - q), cov))


def _dense_max(K, X, y, g, restricted: bool) -> tuple[float, float]:
    def objective(t):
        return -_dense_lml(K, X, y, g, 1.0 / (1.0 + np.exp(t)), restricted)

    best = minimize_scalar(objective, bounds=(-12, 12), method="bounded", options={"xatol": 1e-10})
    return 1.0 / (1.0 + np.exp(best.x)), -best.fun


def _setup(K, S, Q, X, G, y):
    n = y.shape[0]
    design = RotatedDesign(n, S, Q.T @ y, Q.T @ X, float(y @ y), X.T @ y, X.T @ X, S.size < n)
    _, null_lml = _dense_max(K, X, y, None, restricted=False)
    null = _exact.exact_null(design, null_lml)
    B = np.column_stack([X, y])
    usable = np.ptp(G, axis=0) > 0
    cand = _exact.Candidates(Q.T @ G, B.T @ G, np.einsum("nm,nm->m", G, G), usable)
    return null, cand


@pytest.mark.parametrize("rank", [None, 25])
def test_fit_delta__maximises_dense_likelihoods(rank):
    K, S, Q, X, G, y = _cohort(3, rank=rank)
    null, cand = _setup(K, S, Q, X, G, y)
    reml, ml = _exact.fit_delta(null, cand)
    for fit, restricted in ((reml, True), (ml, False)):
        assert fit.converged.all()
        for j in range(G.shape[1]):
            at_ours = _dense_lml(K, X, y, G[:, j], fit.delta[j], restricted)
            # The kernel's likelihood is the dense one at its δ ...
            assert fit.lml[j] == pytest.approx(at_ours, rel=1e-10)
            # ... and no δ does better, to 1e-8.
            delta, best = _dense_max(K, X, y, G[:, j], restricted)
            assert at_ours >= best - 1e-8 * abs(best)
            assert fit.delta[j] == pytest.approx(delta, rel=1e-5)
            for step in (1e-4, -1e-4):
                nearby = _dense_lml(K, X, y, G[:, j], fit.delta[j] * (1 + step), restricted)
                assert nearby < at_ours


def test_fit_delta__statistics_equal_dense_gls():
    K, S, Q, X, G, y = _cohort(5)
    null, cand = _setup(K, S, Q, X, G, y)
    (reml,) = _exact.fit_delta(null, cand, restricted=(True,))
    n, c = X.shape
    for j in range(G.shape[1]):
        delta = reml.delta[j]
        M = np.column_stack([X, G[:, j]])
        V = (1 - delta) * K + delta * np.eye(n)
        Vi = np.linalg.inv(V)
        cov = np.linalg.inv(M.T @ Vi @ M)
        beta = cov @ M.T @ Vi @ y
        r = y - M @ beta
        scale = r @ Vi @ r / (n - c - 1)
        assert reml.beta[j] == pytest.approx(beta[-1], rel=1e-9)
        assert reml.se[j] == pytest.approx(np.sqrt(scale * cov[-1, -1]), rel=1e-9)
        assert reml.scale[j] == pytest.approx(scale, rel=1e-9)
        assert reml.wald[j] == pytest.approx(beta[-1] ** 2 / (scale * cov[-1, -1]), rel=1e-9)


def test_fit_delta__untestable_variants_get_nan():
    K, S, Q, X, G, y = _cohort(7)
    G[:, 2] = 1.0  # constant: collinear with the intercept
    null, cand = _setup(K, S, Q, X, G, y)
    reml, ml = _exact.fit_delta(null, cand)
    for fit in (reml, ml):
        assert np.isnan(fit.beta[2]) and np.isnan(fit.delta[2]) and not fit.converged[2]
        assert np.isfinite(np.delete(fit.beta, 2)).all()


def test_fit_delta__optimum_on_a_bound():
    """A trait without kinship signal: δ → 1, reported on the bound, flagged converged."""
    rng = np.random.default_rng(13)
    K, S, Q, X, G, _ = _cohort(13)
    y = X @ [1.0, 0.5] + rng.standard_normal(K.shape[0])
    null, cand = _setup(K, S, Q, X, G, y)
    bounds = (-6.0, 6.0)
    (ml,) = _exact.fit_delta(null, cand, restricted=(False,), bounds=bounds)
    on_bound = np.isclose(ml.delta, 1 / (1 + np.exp(bounds[0])))
    assert on_bound.any() and ml.converged.all()
    for j in np.flatnonzero(on_bound):
        inside = 1 / (1 + np.exp(bounds[0] + 0.01))
        assert _dense_lml(K, X, y, G[:, j], inside, False) < ml.lml[j]


def test_fixed_delta_statistics__equal_direct_gls():
    """Wald, F and score at a fixed δ from the LRT equal the direct GLS computations."""
    K, _S, _Q, X, G, y = _cohort(13)
    n, c = X.shape
    delta = 0.4
    V = (1 - delta) * K + delta * np.eye(n)
    Vi = np.linalg.inv(V)
    P0 = Vi - Vi @ X @ np.linalg.solve(X.T @ Vi @ X, X.T @ Vi)
    rss0 = y @ P0 @ y
    for j in range(G.shape[1]):
        g = G[:, j]
        M = np.column_stack([X, g])
        cov = np.linalg.inv(M.T @ Vi @ M)
        beta = cov @ M.T @ Vi @ y
        rss1 = (y - M @ beta) @ Vi @ (y - M @ beta)
        lrt = n * np.log(rss0 / rss1)
        got = _exact.fixed_delta_statistics(np.array([lrt]), n, c)
        wald = beta[-1] ** 2 / (rss1 / n * cov[-1, -1])
        f = beta[-1] ** 2 / (rss1 / (n - c - 1) * cov[-1, -1])
        score = n * (g @ P0 @ y) ** 2 / (rss0 * (g @ P0 @ g))
        assert got["wald"][0] == pytest.approx(wald, rel=1e-9)
        assert got["f"][0] == pytest.approx(f, rel=1e-9)
        assert got["score"][0] == pytest.approx(score, rel=1e-9)
        p = _exact.pvalues(got["f"], "f", n, c)[0]
        assert p == pytest.approx(stats.f.sf(f, 1, n - c - 1), rel=1e-9)
        p = _exact.pvalues(got["wald"], "wald", n, c)[0]
        assert p == pytest.approx(stats.chi2.sf(wald, 1), rel=1e-9)


@pytest.mark.parametrize("restricted", [True, False])
def test_smooth_model__slope_and_curvature_match_the_exact_profile(restricted):
    """The Newton model's ℓ' is the exact slope; its ℓ'' the exact slope's derivative."""
    K, S, Q, X, G, y = _cohort(11, m=8)
    null, cand = _setup(K, S, Q, X, G, y)
    exact, smooth = _exact._bracket(null, cand, np.square(cand.QG), -1.5, 2.5)
    t = np.linspace(-1.2, 2.2, G.shape[1])

    def slope(at):
        values, slopes = exact.at(at)
        return _exact._profile(values, y.shape[0], restricted, slopes).slope

    got_slope, got_curvature = smooth.newton(t, y.shape[0], restricted)
    np.testing.assert_allclose(got_slope, slope(t), rtol=1e-9, atol=1e-9)
    step = 1e-5
    curvature = (slope(t + step) - slope(t - step)) / (2 * step)
    np.testing.assert_allclose(got_curvature, curvature, rtol=1e-6)
    # ... and the exact slope is the derivative of the exact profile.
    values = [
        _exact._profile(exact.at(t + d, False)[0], y.shape[0], restricted).value
        for d in (step, -step)
    ]
    np.testing.assert_allclose(
        slope(t), (values[0] - values[1]) / (2 * step), rtol=1e-6, atol=1e-7
    )


def test_fit_delta__regula_falsi_fallback_finds_the_same_optimum(monkeypatch):
    """With no exact Newton step allowed, every variant takes the fallback, to the same δ."""
    K, S, Q, X, G, y = _cohort(3, rank=25)
    null, cand = _setup(K, S, Q, X, G, y)
    expected = _exact.fit_delta(null, cand)
    monkeypatch.setattr(_exact, "POLISH_STEPS", 0)
    fallback = _exact.fit_delta(null, cand)
    for ours, theirs in zip(fallback, expected, strict=True):
        assert ours.converged.all()
        np.testing.assert_allclose(ours.delta, theirs.delta, rtol=1e-9)
        np.testing.assert_allclose(ours.lml, theirs.lml, rtol=1e-12)
        np.testing.assert_allclose(ours.beta, theirs.beta, rtol=1e-8)
