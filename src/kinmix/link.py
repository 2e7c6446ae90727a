r"""Link functions of generalised linear models.

A link :math:`g` maps the mean :math:`\mu` of an outcome to the linear predictor
:math:`x = g(\mu)`; the likelihoods of :mod:`kinmix.lik` use its inverse
:math:`\mu = g^{-1}(x)`. Each link gives ``value`` (:math:`g`), ``inv``
(:math:`g^{-1}`) and ``inv_derivative`` (:math:`\mathrm d g^{-1}/\mathrm dx`), all
element-wise on arrays.

==================  ===================================  ===========================
link                :math:`g(\mu)`                        :math:`g^{-1}(x)`
==================  ===================================  ===========================
:class:`IdentityLink`  :math:`\mu`                        :math:`x`
:class:`LogitLink`  :math:`\log(\mu/(1-\mu))`             :math:`1/(1+e^{-x})`
:class:`ProbitLink` :math:`\Phi^{-1}(\mu)`                :math:`\Phi(x)`
:class:`LogLink`    :math:`\log\mu`                       :math:`e^{x}`
==================  ===================================  ===========================
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, logit, ndtr, ndtri

__all__ = ["IdentityLink", "Link", "LogLink", "LogitLink", "ProbitLink"]

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


class Link:
    """Base class of the link functions (see the module notes)."""

    def value(self, x: Any) -> np.ndarray:
        r"""The link :math:`g(\mu)` at the means ``x``."""
        raise NotImplementedError

    def inv(self, x: Any) -> np.ndarray:
        r"""The inverse link :math:`g^{-1}(x)` at the linear predictors ``x``."""
        raise NotImplementedError

    def inv_derivative(self, x: Any) -> np.ndarray:
        r"""The derivative :math:`\mathrm d g^{-1}(x)/\mathrm dx`."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


class IdentityLink(Link):
    r"""Identity link, :math:`g(\mu) = \mu`."""

    def value(self, x: Any) -> np.ndarray:
        return np.asarray(x, dtype=float).copy()

    def inv(self, x: Any) -> np.ndarray:
        return np.asarray(x, dtype=float).copy()

    def inv_derivative(self, x: Any) -> np.ndarray:
        return np.ones_like(np.asarray(x, dtype=float))


class LogitLink(Link):
    r"""Logit link, :math:`g(\mu) = \log(\mu/(1-\mu))`, inverse the logistic function.

    :math:`\mathrm d g^{-1}/\mathrm dx = g^{-1}(x)\,(1 - g^{-1}(x))`.
    """

    def value(self, x: Any) -> np.ndarray:
        return np.asarray(logit(np.asarray(x, dtype=float)), dtype=float)

    def inv(self, x: Any) -> np.ndarray:
        return np.asarray(expit(np.asarray(x, dtype=float)), dtype=float)

    def inv_derivative(self, x: Any) -> np.ndarray:
        p = self.inv(x)
        return p * (1.0 - p)


class ProbitLink(Link):
    r"""Probit link, :math:`g(\mu) = \Phi^{-1}(\mu)`, inverse the standard normal cdf.

    :math:`\mathrm d g^{-1}/\mathrm dx = \phi(x) = e^{-x^2/2}/\sqrt{2\pi}`.
    """

    def value(self, x: Any) -> np.ndarray:
        return np.asarray(ndtri(np.asarray(x, dtype=float)), dtype=float)

    def inv(self, x: Any) -> np.ndarray:
        return np.asarray(ndtr(np.asarray(x, dtype=float)), dtype=float)

    def inv_derivative(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return _INV_SQRT_2PI * np.exp(-0.5 * x * x)


class LogLink(Link):
    r"""Log link, :math:`g(\mu) = \log\mu`, inverse :math:`e^x` (its own derivative)."""

    def value(self, x: Any) -> np.ndarray:
        return np.log(np.asarray(x, dtype=float))

    def inv(self, x: Any) -> np.ndarray:
        return np.exp(np.asarray(x, dtype=float))

    def inv_derivative(self, x: Any) -> np.ndarray:
        return np.exp(np.asarray(x, dtype=float))
