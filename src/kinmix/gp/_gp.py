r"""Gaussian-process regression by maximum likelihood: :class:`GP`.

The model is

.. math::

    \mathbf y \sim \mathcal N\big(\mathbf m(\boldsymbol\theta),
    \mathrm K(\boldsymbol\theta)\big),

with :math:`\mathbf m` a mean function (:mod:`kinmix.mean`) and :math:`\mathrm K` a
covariance function (:mod:`kinmix.cov`) of free parameters :math:`\boldsymbol\theta`.
Writing :math:`\mathbf r = \mathbf y - \mathbf m` and
:math:`\boldsymbol\alpha = \mathrm K^{-1}\mathbf r`, the log marginal likelihood and its
derivatives are

.. math::

    \ell &= -\tfrac12\big(n\log 2\pi + \log|\mathrm K| + \mathbf r^\intercal
    \boldsymbol\alpha\big), \\
    \frac{\partial\ell}{\partial\mathbf m} &= \boldsymbol\alpha, \qquad
    \frac{\partial\ell}{\partial\mathrm K} = \tfrac12\big(\boldsymbol\alpha
    \boldsymbol\alpha^\intercal - \mathrm K^{-1}\big),

and the chain rule through ``mean.gradient()`` and ``cov.gradient()`` gives
:math:`\partial\ell/\partial\theta`. The covariance is dense: each evaluation costs one
Cholesky factorisation, :math:`O(n^3)`, and :math:`O(n^2)` memory.

:class:`GPModel` holds what every model with such a prior shares (validation of the mean
and covariance against the sample size, the parameters under ``Name[0].``/``Name[1].``
keys, fitting, the printout); :class:`GP` adds the Gaussian likelihood, and a model with
another likelihood (``ExpFamGP``) supplies its own value and
:math:`(\partial\ell/\partial\mathbf m, \partial\ell/\partial\mathrm K)`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from .._validate import as_vector
from ..constants import LOG2PI
from ..cov import Covariance
from ..errors import FitError, InputError
from ..mean import Mean
from ..params import FitResult, Parameter, Parametric, fit_model, prefixed

__all__ = [
    "GP",
    "GPModel",
    "chain_prior_gradient",
    "gaussian_lml",
    "gaussian_lml_derivatives",
]


def _cholesky(K: np.ndarray) -> tuple[np.ndarray, bool]:
    try:
        return cho_factor(K, lower=True, check_finite=False)
    except LinAlgError as exc:
        raise FitError(
            "the covariance matrix is not positive definite at the current parameters "
            "(Cholesky factorisation failed); add an EyeCov term or bound its scales."
        ) from exc


def gaussian_lml(y: np.ndarray, m: np.ndarray, K: np.ndarray) -> float:
    r"""Log density :math:`\log\mathcal N(\mathbf y\mid\mathbf m, \mathrm K)`.

    Parameters
    ----------
    y, m
        Outcome and mean, n-vectors.
    K
        Positive-definite :math:`n\times n` covariance.

    Returns
    -------
    float
        :math:`-\tfrac12\big(n\log 2\pi + \log|\mathrm K| + (\mathbf y-\mathbf m)^\intercal
        \mathrm K^{-1}(\mathbf y-\mathbf m)\big)`, by a Cholesky factorisation.
    """
    factor = _cholesky(K)
    r = y - m
    logdet = 2 * np.log(np.diag(factor[0])).sum()
    return float(-0.5 * (r.size * LOG2PI + logdet + r @ cho_solve(factor, r)))


def gaussian_lml_derivatives(
    y: np.ndarray, m: np.ndarray, K: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    r"""Log density and its derivatives over the mean and the covariance.

    Returns
    -------
    lml : float
        :math:`\ell = \log\mathcal N(\mathbf y\mid\mathbf m, \mathrm K)`.
    d_mean : (n,) ndarray
        :math:`\partial\ell/\partial\mathbf m = \boldsymbol\alpha = \mathrm K^{-1}(\mathbf y
        - \mathbf m)`.
    d_cov : (n, n) ndarray
        :math:`\partial\ell/\partial\mathrm K = \tfrac12(\boldsymbol\alpha
        \boldsymbol\alpha^\intercal - \mathrm K^{-1})`, so that
        :math:`d\ell = \sum_{ij} [\partial\ell/\partial\mathrm K]_{ij}\, dK_{ij}` for any
        symmetric change :math:`d\mathrm K`.
    """
    factor = _cholesky(K)
    r = y - m
    alpha = cho_solve(factor, r)
    logdet = 2 * np.log(np.diag(factor[0])).sum()
    lml = float(-0.5 * (r.size * LOG2PI + logdet + r @ alpha))
    K_inv = cho_solve(factor, np.eye(r.size))
    return lml, alpha, 0.5 * (np.outer(alpha, alpha) - K_inv)


def chain_prior_gradient(
    mean_gradient: Mapping[str, np.ndarray],
    cov_gradient: Mapping[str, np.ndarray],
    d_mean: np.ndarray,
    d_cov: np.ndarray,
) -> tuple[dict[str, Any], dict[str, Any]]:
    r"""Chain rule from the derivatives over the mean and covariance to the parameters.

    .. math::

        \frac{\partial\ell}{\partial\theta}
        = \frac{\partial\ell}{\partial\mathbf m}^\intercal
          \frac{\partial\mathbf m}{\partial\theta}
        + \sum_{ij}\Big[\frac{\partial\ell}{\partial\mathrm K}\Big]_{ij}
          \frac{\partial K_{ij}}{\partial\theta}.

    A parameter with p free coordinates (a trailing axis of length p in its gradient)
    gets a p-vector; a scalar parameter a float.

    Returns
    -------
    mean_part, cov_part
        The derivatives by mean key and by covariance key.
    """
    mean_part = {k: np.tensordot(d_mean, g, axes=(0, 0)) for k, g in mean_gradient.items()}
    cov_part = {k: np.tensordot(d_cov, g, axes=([0, 1], [0, 1])) for k, g in cov_gradient.items()}
    return _floats(mean_part), _floats(cov_part)


def _floats(grad: dict[str, np.ndarray]) -> dict[str, Any]:
    return {k: float(v) if np.ndim(v) == 0 else np.asarray(v) for k, v in grad.items()}


class GPModel(Parametric):
    r"""Base of the models with a Gaussian-process prior :math:`\mathcal N(\mathbf m, \mathrm K)`.

    Parameters
    ----------
    name
        Model name, the prefix of the parameter keys: ``f"{name}[0].<mean key>"`` and
        ``f"{name}[1].<covariance key>"``.
    nsamples
        Number of samples n, which ``mean`` and ``cov`` must match.
    mean
        Mean function of length n.
    cov
        Covariance function of shape n×n.

    Notes
    -----
    Subclasses give :meth:`value` (the log marginal likelihood) and :meth:`gradient`,
    usually as ``self._prior_gradient(d_mean, d_cov)``. ``mean`` and ``cov`` are shared:
    fitting changes their parameters in place.
    """

    def __init__(self, name: str, nsamples: int, mean: Mean, cov: Covariance) -> None:
        if not isinstance(mean, Mean):
            raise InputError(
                f"mean must be a mean function such as kinmix.mean.OffsetMean(n) or "
                f"LinearMean(X); got {type(mean).__name__}."
            )
        if not isinstance(cov, Covariance):
            raise InputError(
                f"cov must be a covariance function such as kinmix.cov.GivenCov(K) or "
                f"EyeCov(n); got {type(cov).__name__}."
            )
        if mean.size != nsamples:
            raise InputError(
                f"mean has length {mean.size} but the outcome has {nsamples} samples."
            )
        if cov.shape != (nsamples, nsamples):
            raise InputError(f"cov has shape {cov.shape} but the outcome has {nsamples} samples.")
        super().__init__(name)
        self._mean = mean
        self._cov = cov

    def parameters(self) -> dict[str, Parameter]:
        return {
            **prefixed(f"{self.name}[0]", self._mean.parameters()),
            **prefixed(f"{self.name}[1]", self._cov.parameters()),
        }

    @abstractmethod
    def value(self) -> float:
        r"""Log marginal likelihood :math:`\ell` at the current parameters."""

    @abstractmethod
    def gradient(self) -> dict[str, Any]:
        r""":math:`\partial\ell/\partial\theta` by parameter key."""

    def lml(self) -> float:
        r"""Log of the marginal likelihood, :math:`\log p(\mathbf y)`."""
        return self.value()

    def _prior_gradient(self, d_mean: np.ndarray, d_cov: np.ndarray) -> dict[str, Any]:
        mean_part, cov_part = chain_prior_gradient(
            self._mean.gradient(), self._cov.gradient(), d_mean, d_cov
        )
        return {
            **prefixed(f"{self.name}[0]", mean_part),
            **prefixed(f"{self.name}[1]", cov_part),
        }

    def fit(self, verbose: bool = True, factr: float = 1e5, pgtol: float = 1e-7) -> FitResult:
        """Maximise the marginal likelihood over the unfixed parameters: L-BFGS-B by
        :func:`kinmix.params.fit_model`, which documents the arguments and the warnings."""
        return fit_model(self, factr=factr, pgtol=pgtol, verbose=verbose)

    def __str__(self) -> str:
        lines = [f"{type(self).__name__}(...)", f"  lml: {self.lml()}"]
        for part in (self._mean, self._cov):
            lines.extend("  " + line for line in str(part).split("\n"))
        return "\n".join(lines)


class GP(GPModel):
    r"""Gaussian-process inference by maximum likelihood.

    .. math::

        \mathbf y \sim \mathcal N\big(\mathbf m(\boldsymbol\theta),
        \mathrm K(\boldsymbol\theta)\big).

    Parameters
    ----------
    y
        Outcome, n finite values.
    mean
        Mean function of length n (e.g. :class:`kinmix.mean.OffsetMean`).
    cov
        Covariance function of shape n×n (e.g. :class:`kinmix.cov.SumCov`).

    Notes
    -----
    ``lml()`` is the log marginal likelihood of the module notes; ``gradient()`` returns
    its derivatives under the keys ``"GP[0].<mean key>"`` and ``"GP[1].<cov key>"``;
    ``fit()`` maximises it, leaving the optimum in ``mean`` and ``cov``. Each evaluation
    is a dense Cholesky factorisation, :math:`O(n^3)`.

    Raises
    ------
    InputError
        If ``y`` is not a finite vector, or ``mean``/``cov`` do not match its length.
    """

    def __init__(self, y: Any, mean: Mean, cov: Covariance) -> None:
        self._y = as_vector(y, "y")
        super().__init__("GP", self._y.size, mean, cov)

    def value(self) -> float:
        r"""Log marginal likelihood :math:`\log\mathcal N(\mathbf y\mid\mathbf m, \mathrm K)`."""
        return gaussian_lml(self._y, self._mean.value(), self._cov.value())

    def gradient(self) -> dict[str, Any]:
        r"""Derivatives of the log marginal likelihood over the free parameters."""
        _, d_mean, d_cov = gaussian_lml_derivatives(self._y, self._mean.value(), self._cov.value())
        return self._prior_gradient(d_mean, d_cov)
