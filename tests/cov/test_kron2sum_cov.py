"""Kron2SumCov: the seed's printout, and every fast operation against the dense matrix."""

from __future__ import annotations

import numpy as np
import pytest

from kinmix.cov import Kron2SumCov
from kinmix.errors import InputError
from tests._numdiff import free_gradient

SEED_PRINTOUT = """\
Kron2SumCov(G=..., dim=2, rank=1): Kron2SumCov
  LRFreeFormCov(n=2, m=1): C₀
    L: [[3.]
        [2.]]
  FreeFormCov(dim=2): C₁
    L: [[1. 0.]
        [2. 1.]]"""


def test_kron2sum_cov__seed_printout():
    G = np.array([[-1.5, 1.0], [-1.5, 1.0], [-1.5, 1.0]])
    cov = Kron2SumCov(G, 2, 1)
    cov.C0.L = np.array([[3], [2]], float)
    cov.C1.L = np.array([[1, 0], [2, 1]], float)
    assert str(cov) == SEED_PRINTOUT


def _random_cov(n, m, p, rank, seed):
    rng = np.random.default_rng(seed)
    cov = Kron2SumCov(rng.normal(size=(n, m)), p, rank)
    cov.C0.L = rng.normal(size=(p, rank))
    cov.C1.Lu = rng.normal(size=cov.C1.Lu.size) * 0.5
    return cov, rng


@pytest.mark.parametrize(("n", "m", "p", "rank"), [(7, 3, 2, 1), (6, 9, 3, 3), (5, 2, 1, 1)])
def test_kron2sum_cov__fast_operations_match_dense(n, m, p, rank):
    cov, rng = _random_cov(n, m, p, rank, seed=n + m + p)
    K = cov.value()
    G = cov.G
    C0, C1 = cov.C0.value(), cov.C1.value()
    np.testing.assert_allclose(K, np.kron(C0, G @ G.T) + np.kron(C1, np.eye(n)))
    np.testing.assert_allclose(cov.logdet(), np.linalg.slogdet(K)[1], rtol=1e-10)
    v = rng.normal(size=n * p)
    V = rng.normal(size=(n * p, 4))
    np.testing.assert_allclose(cov.solve(v), np.linalg.solve(K, v), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(cov.solve(V), np.linalg.solve(K, V), rtol=1e-8, atol=1e-10)
    L = np.kron(cov.Lh, cov.Lx)
    np.testing.assert_allclose(L.T @ np.diag(cov.D) @ L, np.linalg.inv(K), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(cov.Ge @ cov.Ge.T, G @ G.T, atol=1e-10)
    dK = cov.gradient()
    for key, dense in cov.gradient_dot(v).items():
        np.testing.assert_allclose(dense, np.einsum("abi,b->ai", dK[key], v), atol=1e-10)
    for key, dense in cov.gradient_dot(V).items():
        np.testing.assert_allclose(dense, np.einsum("abi,bm->ami", dK[key], V), atol=1e-10)
    for key, fast in cov.LdKL_dot(V).items():
        expected = np.einsum("ab,bci,dc,dm->ami", L, dK[key], L, V)
        np.testing.assert_allclose(fast, expected, atol=1e-9)
    logdet_gradient = cov.logdet_gradient()
    for key, parameter in cov.parameters().items():
        numeric = free_gradient(parameter, cov.logdet)
        np.testing.assert_allclose(logdet_gradient[key], numeric, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(free_gradient(parameter, cov.value), dK[key], atol=1e-6)
    assert cov.nparams == p * rank + p * (p + 1) // 2
    assert cov.shape == (n * p, n * p)


def test_kron2sum_cov__rank_above_dim_raises():
    with pytest.raises(InputError, match="rank must be at most dim=2"):
        Kron2SumCov(np.ones((3, 2)), 2, 3)


def test_kron2sum_cov__wrong_vector_size_raises():
    cov = Kron2SumCov(np.ones((3, 2)), 2, 1)
    with pytest.raises(InputError, match="v must have n·p = 6 rows"):
        cov.solve(np.ones(5))
