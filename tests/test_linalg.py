"""Economic eigendecomposition and the rotated inner products."""

from __future__ import annotations

import numpy as np
import pytest

from kinmix import InputError, economic_qs, economic_qs_linear
from kinmix.linalg import EconomicSVD, inner, leading_rank, logdet, unpack_qs


def _dense_v(Q0, d0, d1, n):
    return (Q0 * d0) @ Q0.T + d1 * (np.eye(n) - Q0 @ Q0.T)


def test_economic_qs__reconstructs_and_drops_null_space():
    rng = np.random.default_rng(0)
    G = rng.standard_normal((30, 12))
    K = G @ G.T
    (Q0, Q1), S0 = economic_qs(K)
    assert Q0.shape == (30, 12) and Q1.shape == (30, 18) and S0.shape == (12,)
    np.testing.assert_allclose((Q0 * S0) @ Q0.T, K, atol=1e-10)
    np.testing.assert_allclose(Q0.T @ Q1, 0, atol=1e-12)
    assert np.all(np.diff(S0) >= 0)


def test_economic_qs_linear__matches_dense_without_q1():
    rng = np.random.default_rng(1)
    G = rng.standard_normal((50, 7))
    (Q0, Q1), S0 = economic_qs_linear(G)
    assert Q1 is None
    np.testing.assert_allclose((Q0 * S0) @ Q0.T, G @ G.T, atol=1e-10)
    (_, S_dense) = economic_qs(G @ G.T)[0], economic_qs(G @ G.T)[1]
    np.testing.assert_allclose(np.sort(S0), S_dense, rtol=1e-10)


def test_economic_qs_linear__q1_on_request_and_wide_input():
    rng = np.random.default_rng(2)
    G = rng.standard_normal((10, 4))
    (Q0, Q1), _ = economic_qs_linear(G, return_q1=True)
    assert Q1.shape == (10, 6)
    np.testing.assert_allclose(np.hstack([Q0, Q1]).T @ np.hstack([Q0, Q1]), np.eye(10), atol=1e-12)
    wide = rng.standard_normal((6, 9))
    (Q0w, Q1w), Sw = economic_qs_linear(wide)
    assert Q0w.shape == (6, 6) and Q1w is None
    np.testing.assert_allclose((Q0w * Sw) @ Q0w.T, wide @ wide.T, atol=1e-10)


def test_economic_qs__rtol_controls_the_cut():
    Q, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((5, 5)))
    S = np.array([1e-12, 1e-6, 0.5, 1.0, 2.0])
    K = (Q * S) @ Q.T
    assert economic_qs(K)[1].shape == (4,)
    assert economic_qs(K, rtol=1e-3)[1].shape == (3,)


def test_leading_rank__one_cut_for_every_thin_decomposition():
    assert leading_rank(np.array([4.0, 1.0, 4e-9, 3e-9]), 1e-9) == 2
    assert leading_rank(np.array([4.0, 1.0, 4e-9, 3e-9]), 1e-10) == 4
    assert leading_rank(np.array([0.0, 0.0]), 1e-9) == 0
    assert leading_rank(np.empty(0), 1e-9) == 0
    # Rank-3 factor with a direction at 1e-5 relative singular value (1e-10 in S).
    rng = np.random.default_rng(2)
    U, _ = np.linalg.qr(rng.standard_normal((40, 3)))
    W, _ = np.linalg.qr(rng.standard_normal((6, 3)))
    G = (U * [3.0, 1.0, 3e-5]) @ W.T
    _, S0 = economic_qs_linear(G, rtol=1e-12)
    svd = EconomicSVD.of(G)
    assert S0.shape == (3,) and svd.Sx.shape == (2,)  # SINGULAR_RTOL = √ε > 1e-10
    np.testing.assert_allclose(S0, [9.0, 1.0, 9e-10], rtol=1e-6)
    np.testing.assert_allclose(svd.Sx, [9.0, 1.0], rtol=1e-10)
    assert economic_qs_linear(G, rtol=1e-9)[1].shape == (2,)


def test_economic_qs__rejects_non_psd():
    K = np.diag([1.0, 2.0, -0.5])
    with pytest.raises(InputError, match="not positive semi-definite: its smallest eigenvalue"):
        economic_qs(K)


def test_economic_qs__rejects_bad_shapes_and_values():
    with pytest.raises(InputError, match="K must be square"):
        economic_qs(np.ones((3, 4)))
    with pytest.raises(InputError, match="K must be symmetric"):
        economic_qs(np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(InputError, match=r"K contains 2 non-finite value\(s\).*index \(0, 1\)"):
        economic_qs(np.array([[1.0, np.nan], [np.nan, 1.0]]))
    with pytest.raises(InputError, match="K has no positive eigenvalue"):
        economic_qs(np.zeros((3, 3)))
    with pytest.raises(InputError, match="G is zero"):
        economic_qs_linear(np.zeros((5, 2)))


def test_unpack_qs__validates_sizes_and_drops_zeros():
    Q, _ = np.linalg.qr(np.random.default_rng(4).standard_normal((6, 3)))
    Q0, S0 = unpack_qs(((Q, None), np.array([0.0, 1.0, 2.0])), 6)
    assert Q0.shape == (6, 2) and np.array_equal(S0, [1.0, 2.0])
    with pytest.raises(InputError, match="Q0\\) has 6 rows but there are 5 samples"):
        unpack_qs(((Q, None), np.ones(3)), 5)
    with pytest.raises(InputError, match="has 3 columns but QS\\[1\\] \\(S0\\) has 2"):
        unpack_qs(((Q, None), np.ones(2)), 6)
    with pytest.raises(InputError, match="QS must be a tuple"):
        unpack_qs(Q, 6)
    with pytest.raises(InputError, match="not positive semi-definite"):
        unpack_qs(((Q, None), np.array([-1.0, 1.0, 2.0])), 6)


@pytest.mark.parametrize("k", [3, 8])
def test_inner__equals_dense_solve(k):
    rng = np.random.default_rng(5)
    n = 8
    Q0, _ = np.linalg.qr(rng.standard_normal((n, k)))
    d0, d1 = rng.uniform(0.5, 2.0, k), 0.7
    a, b = rng.standard_normal((n, 2)), rng.standard_normal(n)
    V = _dense_v(Q0, d0, d1, n)
    expected = a.T @ np.linalg.solve(V, b)
    got = inner(Q0.T @ a, Q0.T @ b, a.T @ b, d0, d1, complement=k < n)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(logdet(d0, d1, n), np.linalg.slogdet(V)[1], rtol=1e-12)
