"""Small ready-made mean and covariance functions for examples and documentation."""

from __future__ import annotations

import numpy as np

from .cov import EyeCov, LinearCov, SumCov
from .mean import OffsetMean

_NSAMPLES = 10


def offset_mean() -> OffsetMean:
    r"""Offset mean :math:`\mathbf m = 0.5\cdot\mathbf 1` over 10 samples."""
    mean = OffsetMean(_NSAMPLES)
    mean.offset = 0.5
    return mean


def linear_eye_cov() -> SumCov:
    r"""Covariance :math:`\mathrm X\mathrm X^\intercal + \mathrm I` over 10 samples.

    :math:`\mathrm X` (10×11) is drawn from ``numpy.random.RandomState(458)``, each
    column centred and scaled to unit (population, ``ddof=0``) variance, then divided
    by :math:`\sqrt{11}`. Both scales are 1: ``SumCov([LinearCov(X), EyeCov(10)])``.
    """
    ncols = _NSAMPLES + 1
    X = np.random.RandomState(458).randn(_NSAMPLES, ncols)
    X = (X - X.mean(0)) / X.std(0) / np.sqrt(ncols)
    return SumCov([LinearCov(X), EyeCov(_NSAMPLES)])
