"""Samplers of outcomes from the models' priors, for simulations and examples."""

from __future__ import annotations

import numpy as np

from .constants import SQRT_EPS
from .cov import Covariance
from .mean import Mean

__all__ = ["GGPSampler", "GPSampler"]


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
        K = self._cov.value() + SQRT_EPS * np.eye(self._mean.size)
        return random_state.multivariate_normal(self._mean.value(), K)


class GGPSampler:
    r"""Draw outcomes of a generalised Gaussian process.

    .. math::

        \mathbf f \sim \mathcal N(\mathbf m, \mathrm K), \qquad
        y_i \mid f_i \sim p(y_i \mid g^{-1}(f_i)).

    Parameters
    ----------
    lik
        Likelihood with a ``sample(f, random_state)`` method (:mod:`kinmix.lik`).
    mean
        Mean function :math:`\mathbf m`.
    cov
        Covariance function :math:`\mathrm K`.

    Notes
    -----
    The latent draw is :class:`GPSampler`'s (same jitter); the outcomes then come from
    ``lik.sample`` with the same source of randomness.
    """

    def __init__(self, lik, mean: Mean, cov: Covariance) -> None:
        self._lik = lik
        self._latent = GPSampler(mean, cov)

    def sample(self, random_state: np.random.RandomState) -> np.ndarray:
        """One draw of the n outcomes (``RandomState`` or ``Generator``)."""
        return self._lik.sample(self._latent.sample(random_state), random_state)
