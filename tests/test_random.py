import numpy as np

from kinmix.cov import EyeCov, FreeFormCov
from kinmix.example import linear_eye_cov, offset_mean
from kinmix.mean import OffsetMean
from kinmix.random import GPSampler


def test_gpsampler__draws_with_jittered_covariance():
    mean, cov = offset_mean(), linear_eye_cov()
    y = GPSampler(mean, cov).sample(np.random.RandomState(94584))
    K = cov.value() + np.sqrt(np.finfo(float).eps) * np.eye(10)
    expected = np.random.RandomState(94584).multivariate_normal(np.full(10, 0.5), K)
    np.testing.assert_array_equal(y, expected)


def test_gpsampler__moments_follow_the_prior():
    mean = OffsetMean(2)
    mean.offset = 1.5
    cov = FreeFormCov(2)
    cov.L = [[1.0, 0.0], [0.8, 0.5]]
    sampler = GPSampler(mean, cov)
    rng = np.random.default_rng(0)
    draws = np.array([sampler.sample(rng) for _ in range(4000)])
    np.testing.assert_allclose(draws.mean(0), [1.5, 1.5], atol=0.06)
    np.testing.assert_allclose(np.cov(draws.T), cov.value(), atol=0.08)


def test_gpsampler__singular_covariance_still_samples():
    cov = EyeCov(3)
    cov.scale = 1e-300
    y = GPSampler(OffsetMean(3), cov).sample(np.random.RandomState(1))
    assert y.shape == (3,) and np.all(np.isfinite(y))
