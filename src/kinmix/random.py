"""Samplers of outcomes from the models' priors, for simulations and examples."""

from __future__ import annotations

import numpy as np

from .cov import Covariance
from .mean import Mean

__all__ = ["GPSampler"]

_JITTER = float(np.sqrt(np.finfo(float).eps))


class GPSampler:
    r"""Draw outcomes :math:`\mathbf y \sim \mathcal N(\mathbf m, \mathrm K)`.

    Parameters
    ----------
    mean
        Mean function :math:`\mathbf m`.
    cov
        Covariance function :math:`\mathrm K`.

    Notes
    -----
    The draw uses :math:`\mathrm K + \sqrt{\epsilon}\,\mathrm I` (:math:`\epsilon` the
    float64 machine epsilon), which keeps a singular :math:`\mathrm K` usable.
    """

    def __init__(self, mean: Mean, cov: Covariance) -> None:
        self._mean = mean
        self._cov = cov

    def sample(self, random_state: np.random.RandomState) -> np.ndarray:
        """One draw of the n outcomes.

        Parameters
        ----------
        random_state
            Source of randomness; its ``multivariate_normal`` method is called once, so
            ``numpy.random.RandomState`` reproduces the seed's examples and
            ``numpy.random.Generator`` also works.
        """
        K = self._cov.value() + _JITTER * np.eye(self._mean.size)
        return random_state.multivariate_normal(self._mean.value(), K)
