import numpy as np
import pytest

from kinmix.example import linear_eye_cov, offset_mean


def test_offset_mean__ten_samples_at_half():
    mean = offset_mean()
    np.testing.assert_array_equal(mean.value(), np.full(10, 0.5))
    assert str(mean) == "OffsetMean(): OffsetMean\n  offset: 0.5"


def test_linear_eye_cov__standardised_linear_plus_identity():
    cov = linear_eye_cov()
    raw = np.random.RandomState(458).randn(10, 11)
    X = (raw - raw.mean(0)) / raw.std(0) / np.sqrt(11)
    np.testing.assert_allclose(cov.value(), X @ X.T + np.eye(10), rtol=1e-13, atol=1e-15)
    assert np.trace(cov.value()) == pytest.approx(20.0, rel=1e-12)
    assert list(cov.parameters()) == ["SumCov[0].logscale", "SumCov[1].logscale"]
    assert [p.value for p in cov.parameters().values()] == [1.0, 1.0]
    assert str(cov) == (
        "SumCov(covariances=...): SumCov\n"
        "  LinearCov(): LinearCov\n    scale: 1.0\n"
        "  EyeCov(dim=10): EyeCov\n    scale: 1.0"
    )
