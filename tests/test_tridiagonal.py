"""The tridiagonal form of a kinship against its eigendecomposition: the same designs, the same
δ and h² searches, and the Cholesky whitening of the scan."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kinmix import FitError, InputError
from kinmix.gwas import prepare_scan, prepare_whitened_scan
from kinmix.kernel import null_model as kernel
from kinmix.kernel.null_fit import NullFit
from kinmix.linalg import economic_qs, rotate
from kinmix.lmm import LinearMixedModel
from kinmix.tridiagonal import TridiagonalKinship, cholesky_whitener, whiten


def _problem(seed: int = 1, n: int = 120, m: int = 400):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, m))
    K = Z @ Z.T / m
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    causal = min(m, 40)
    y = 0.15 * Z[:, :causal] @ rng.standard_normal(causal) + rng.standard_normal(n)
    return K, X, y, rng


def _reduced(K: np.ndarray) -> TridiagonalKinship:
    return TridiagonalKinship.from_upper(np.asfortranarray(np.triu(K)))


def test_the_tridiagonal_form_keeps_the_eigenvalues_and_rotates_orthogonally():
    K, X, y, _ = _problem()
    tri = _reduced(K)
    np.testing.assert_allclose(tri.S, np.linalg.eigvalsh(K), rtol=0, atol=1e-12 * tri.S[-1])
    B = np.column_stack([X, y])
    HB = tri.rotate(B)
    # Hᵀ is orthogonal and takes K to T: (HᵀB)ᵀ T (HᵀB) = Bᵀ K B.
    T = np.diag(tri.diagonal) + np.diag(tri.offdiagonal, 1) + np.diag(tri.offdiagonal, -1)
    np.testing.assert_allclose(HB.T @ HB, B.T @ B, rtol=1e-12)
    np.testing.assert_allclose(HB.T @ T @ HB, B.T @ K @ B, rtol=1e-11)
    np.testing.assert_allclose(tri.rotate(y), HB[:, -1], rtol=0, atol=1e-13)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(delta=st.floats(0.01, 0.99), seed=st.integers(0, 50))
def test_the_designs_agree_on_every_quantity_of_the_delta_search(delta, seed):
    K, X, y, rng = _problem(seed, n=60, m=150)
    (Q0, _), S0 = economic_qs(K)
    eigen = rotate(Q0, S0, y, X)
    tri = _reduced(K).design(y, X)
    d0, d1 = kernel.delta_diagonal(tri.S, delta)
    e0, e1 = kernel.delta_diagonal(eigen.S, delta)
    np.testing.assert_allclose(tri.weighted_gram(d0, d1), eigen.weighted_gram(e0, e1),
                               rtol=1e-10)
    beta = rng.standard_normal(2)
    for restricted in (False, True):
        got = tri.derivative_forms(d0, d1, beta, restricted)
        want = eigen.derivative_forms(e0, e1, beta, restricted)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-9)
        if restricted:
            np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-12)
        else:
            assert got[1] is None and want[1] is None


@pytest.mark.parametrize("restricted", [False, True])
def test_the_delta_search_finds_the_same_delta_on_either_form(restricted):
    K, X, y, _ = _problem()
    QS = economic_qs(K)
    on_eigen = NullFit.of(y, X, QS[0][0], QS[1], restricted=restricted)
    on_tri = NullFit.of(y, X, None, restricted=restricted, design=_reduced(K).design(y, X))
    want = on_eigen.search_delta(beta=None, scale=None, start=0.5).delta
    got = on_tri.search_delta(beta=None, scale=None, start=0.5).delta
    assert 0.05 < want < 0.95
    assert got == pytest.approx(want, rel=1e-10)
    for delta in (0.2, want):
        a, b = on_eigen.solution(delta), on_tri.solution(delta)
        assert b.rss == pytest.approx(a.rss, rel=1e-12)
        assert b.logdet == pytest.approx(a.logdet, rel=1e-12)
        np.testing.assert_allclose(b.beta, a.beta, rtol=1e-10)


def test_hails_model_from_the_tridiagonal_design_gives_the_same_h2_and_standard_error():
    K, X, y, _ = _problem()
    (Q0, _), S0 = economic_qs(K)
    want = LinearMixedModel(Q0.T @ y, Q0.T @ X, S0)
    want.fit()
    got = LinearMixedModel.from_design(_reduced(K).design(y, X))
    got.fit()
    assert got.h_sq == pytest.approx(want.h_sq, rel=1e-10)
    assert got.h_sq_standard_error == pytest.approx(want.h_sq_standard_error, rel=1e-7)
    assert got.restricted_log_likelihood() == pytest.approx(
        want.restricted_log_likelihood(), rel=1e-12
    )
    with pytest.raises(FitError, match="built from a design"):
        got.fit_alternatives_numpy(np.ones((K.shape[0], 1)))


def test_from_design_refuses_a_design_with_a_complement():
    K, X, y, _ = _problem(n=60, m=20)  # rank 20 < 60
    (Q0, _), S0 = economic_qs(K)
    with pytest.raises(InputError, match="full-rank design"):
        LinearMixedModel.from_design(rotate(Q0, S0, y, X))


def test_a_rank_deficient_kinship_is_flagged_and_an_indefinite_one_refused():
    K, *_ = _problem(n=60, m=20)
    assert not _reduced(K).full_rank
    assert _reduced(K + 0.1 * np.eye(60)).full_rank
    with pytest.raises(InputError, match="not positive semi-definite"):
        _reduced(K - 0.5 * np.eye(60))


def test_the_cholesky_whitener_has_the_log_determinant_and_whitens():
    K, X, _, _ = _problem()
    n = K.shape[0]
    V = 0.6 * K + 0.4 * np.eye(n)
    factor, logdet = cholesky_whitener(np.asfortranarray(np.triu(K)), 0.4)
    assert logdet == pytest.approx(np.linalg.slogdet(V)[1], rel=1e-12)
    W = whiten(factor, X)
    np.testing.assert_allclose(W.T @ W, X.T @ np.linalg.solve(V, X), rtol=1e-10)
    assert whiten(factor, np.empty((n, 0))).shape == (n, 0)
    with pytest.raises(FitError, match="not positive definite"):
        cholesky_whitener(np.asfortranarray(np.triu(K - 2 * np.eye(n))), 0.0)


@pytest.mark.parametrize("test", ["lrt", "wald", "f", "score"])
def test_a_whitened_scan_equals_the_eigenvector_scan(test):
    K, X, y, rng = _problem(n=150)
    n = K.shape[0]
    G = rng.binomial(2, 0.3, size=(n, 60)).astype(float)
    G[:, 3] = 1.0  # constant
    G[7, 9] = np.nan  # missing, imputed
    delta = 0.37
    want = prepare_scan(y, X, economic_qs(K), deltas=[delta], test=test).table(G.copy())
    factor, logdet = cholesky_whitener(np.asfortranarray(np.triu(K)), delta)
    got = prepare_whitened_scan(y, X, factor, logdet, delta, test=test).table(G.copy())
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(got, want, rtol=1e-8, atol=1e-12)
    assert got["chi2"].isna().sum() == 1


def test_a_whitened_interaction_scan_equals_the_eigenvector_scan():
    K, X, y, rng = _problem(n=150)
    n = K.shape[0]
    G = rng.binomial(2, 0.3, size=(n, 40)).astype(float)
    E = pd.DataFrame({"e": rng.standard_normal(n)})
    want = prepare_scan(y, X, economic_qs(K), deltas=[0.5], interaction=E).table(G.copy())
    factor, logdet = cholesky_whitener(np.asfortranarray(np.triu(K)), 0.5)
    got = prepare_whitened_scan(y, X, factor, logdet, 0.5, interaction=E).table(G.copy())
    pd.testing.assert_frame_equal(got, want, rtol=1e-7, atol=1e-10)


def test_prepare_whitened_scan_names_its_bad_arguments():
    K, X, y, _ = _problem(n=50, m=100)
    factor, logdet = cholesky_whitener(np.asfortranarray(np.triu(K)), 0.5)
    with pytest.raises(InputError, match="one trait"):
        prepare_whitened_scan(np.column_stack([y, y]), X, factor, logdet, 0.5)
    with pytest.raises(InputError, match="factor must be 50×50"):
        prepare_whitened_scan(y, X, factor[:10, :10], logdet, 0.5)
