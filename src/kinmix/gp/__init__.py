"""Gaussian processes: :class:`GP` (Gaussian likelihood, exact) and :class:`ExpFamGP`
(exponential-family likelihood, expectation propagation on :mod:`kinmix.ep`), both on
:class:`GPModel`, the shared prior of a mean and a covariance function."""

from ._expfam import ExpFamGP
from ._gp import GP, GPModel

__all__ = ["GP", "ExpFamGP", "GPModel"]
