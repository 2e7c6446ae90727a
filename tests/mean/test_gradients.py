"""Analytic mean gradients against central finite differences in the free coordinates."""

import numpy as np
import pytest

from kinmix.mean import LinearMean, OffsetMean, SumMean

from .._numdiff import free_gradient

N = 5


MAKERS = {
    "offset": lambda: OffsetMean(N),
    "linear": lambda: LinearMean(np.random.RandomState(4).randn(N, 3)),
    "sum": lambda: SumMean(
        [LinearMean(np.random.RandomState(5).randn(N, 2)), SumMean([OffsetMean(N)])]
    ),
}


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_mean_gradient__matches_finite_differences(kind):
    mean = MAKERS[kind]()
    rng = np.random.default_rng(7)
    for parameter in mean.parameters().values():
        parameter.free = rng.normal(size=parameter.size)
    for key, analytic in mean.gradient().items():
        numeric = free_gradient(mean.parameters()[key], mean.value)
        analytic = np.asarray(analytic).reshape(numeric.shape)
        error = np.linalg.norm(analytic - numeric) / np.linalg.norm(numeric)
        assert error <= 1e-6, (key, error)
