"""Analytic covariance gradients against central finite differences in the free coordinates."""

import numpy as np
import pytest

from kinmix.cov import EyeCov, FreeFormCov, GivenCov, LinearCov, LRFreeFormCov, SumCov

from .._numdiff import free_gradient

N = 4


def _randomise(cov, rng):
    for parameter in cov.parameters().values():
        parameter.free = rng.uniform(-1.0, 1.0, size=parameter.size)


def _givencov():
    G = np.random.RandomState(2).randn(N, 3)
    return GivenCov(G @ G.T)


MAKERS = {
    "eye": lambda: EyeCov(N),
    "given": _givencov,
    "linear": lambda: LinearCov(np.random.RandomState(3).randn(N, 2)),
    "freeform": lambda: FreeFormCov(N),
    "lrfreeform": lambda: LRFreeFormCov(N, 2),
    "sum": lambda: SumCov(
        [FreeFormCov(N), SumCov([EyeCov(N), LinearCov(np.ones((N, 1)))]), LRFreeFormCov(N, 2)]
    ),
}


@pytest.mark.parametrize("kind", sorted(MAKERS))
@pytest.mark.parametrize("seed", [0, 1])
def test_covariance_gradient__matches_finite_differences(kind, seed):
    cov = MAKERS[kind]()
    _randomise(cov, np.random.default_rng(seed))
    gradient = cov.gradient()
    assert list(gradient) == list(cov.parameters())
    for key, analytic in gradient.items():
        numeric = free_gradient(cov.parameters()[key], cov.value)
        analytic = np.asarray(analytic).reshape(numeric.shape)
        error = np.linalg.norm(analytic - numeric) / np.linalg.norm(numeric)
        assert error <= 1e-6, (key, error)


def test_freeformcov_gradient__shape_is_d_by_d_by_nparams():
    assert FreeFormCov(3).gradient()["Lu"].shape == (3, 3, 6)
    assert LRFreeFormCov(3, 2).gradient()["Lu"].shape == (3, 3, 6)
