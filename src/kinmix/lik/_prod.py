r"""Products of independent likelihoods, :math:`p(\mathbf y\mid\mathbf x) = \prod_i
p(y_i\mid x_i)`, with the linear predictor :math:`x_i` mapped to the mean by a link.

Each likelihood gives its log-density and two derivatives in :math:`x` (for the mode
search of the tilted moments), its support check, a sampler and the EP tilted moments
:meth:`ProdLik.tilted_moments` (closed form for the Bernoulli–probit and Normal
likelihoods, quadrature otherwise; see :mod:`kinmix.lik._tilted`). All of them are
log-concave in :math:`x`, which the quadrature relies on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from scipy.special import erfcx, gammaln, log_ndtr

from .._validate import as_vector
from ..constants import LOG2PI, QUADRATURE_NODES
from ..errors import InputError
from ..link import IdentityLink, Link, LogitLink, LogLink, ProbitLink
from ._tilted import TiltedMoments, tilted_moments_by_quadrature

__all__ = [
    "BernoulliProdLik",
    "BinomialProdLik",
    "NormalProdLik",
    "PoissonProdLik",
    "ProbitProdLik",
    "ProdLik",
]

_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))

Derivatives = tuple[np.ndarray, np.ndarray, np.ndarray]


def _generator(random_state: Any) -> Any:
    return np.random.default_rng() if random_state is None else random_state


def _check_integers(y: np.ndarray, name: str, low: float, high: Any, what: str) -> None:
    bad = (y != np.round(y)) | (y < low) | (y > high)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{name}[{i}] = {y[i]:g} is outside the support: {what}.")


def _mills_ratio(z: np.ndarray) -> np.ndarray:
    r""":math:`\phi(z)/\Phi(z)`, stable for every z via the scaled complementary erf."""
    return _SQRT_2_OVER_PI / erfcx(-z / np.sqrt(2.0))


def _log_logistic(y: np.ndarray, n: np.ndarray, x: np.ndarray) -> Derivatives:
    r""":math:`y\log\sigma(x) + (n-y)\log\sigma(-x) = yx - n\operatorname{softplus}(x)`
    and its derivatives, from one exponential :math:`e^{-|x|}`."""
    e = np.exp(-np.abs(x))
    softplus = np.maximum(x, 0.0) + np.log1p(e)
    inv = 1.0 / (1.0 + e)
    positive = x >= 0
    p = np.where(positive, inv, e * inv)
    q = np.where(positive, e * inv, inv)
    return y * x - n * softplus, y - n * p, -n * p * q


def _log_logistic_value(y: np.ndarray, n: Any, x: np.ndarray) -> np.ndarray:
    r""":math:`yx - n\operatorname{softplus}(x)` alone."""
    return y * x - n * (np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x))))


def _log_probit(y: np.ndarray, n: np.ndarray, x: np.ndarray) -> Derivatives:
    """y log Φ(x) + (n - y) log Φ(-x) and its derivatives in x."""
    r_pos = _mills_ratio(x)
    r_neg = _mills_ratio(-x)
    value = y * log_ndtr(x) + (n - y) * log_ndtr(-x)
    d1 = y * r_pos - (n - y) * r_neg
    d2 = -y * r_pos * (x + r_pos) - (n - y) * r_neg * (r_neg - x)
    return value, d1, d2


class ProdLik(ABC):
    """Base class of the product likelihoods (see the module notes).

    Parameters
    ----------
    link
        Link between the mean and the linear predictor.
    nodes
        Trapezoidal nodes per site for the tilted moments by quadrature.
    """

    name: str = ""
    _links: tuple[type[Link], ...] = ()
    #: Largest quadrature spacing: half the distance from the real axis to the nearest
    #: singularity of the log-likelihood (logistic: poles at ±iπ; probit: none nearby).
    _spacing: float = 0.5
    #: Largest spacing relative to the Laplace scale at the mode.
    _relative_spacing: float = 1 / 1.5

    def __init__(self, link: Link | None = None, *, nodes: int = QUADRATURE_NODES) -> None:
        link = self._links[0]() if link is None else link
        if isinstance(link, type):
            link = link()
        if not isinstance(link, self._links):
            allowed = ", ".join(cls.__name__ for cls in self._links)
            raise InputError(
                f"link {type(link).__name__} is not supported by {type(self).__name__}; "
                f"use one of: {allowed}."
            )
        nodes = int(nodes)
        if nodes < 16:
            raise InputError(f"nodes must be at least 16; got {nodes}.")
        self._link = link
        self._nodes = nodes

    @property
    def link(self) -> Link:
        """The link function."""
        return self._link

    def mean(self, x: Any) -> np.ndarray:
        r"""Mean of the outcome, :math:`g^{-1}(x)`."""
        return self._link.inv(x)

    @abstractmethod
    def check_outcome(self, y: Any, name: str = "y") -> np.ndarray:
        """Return ``y`` as a float vector, raising :class:`InputError` outside the support."""

    @abstractmethod
    def log_pdf_derivatives(self, y: np.ndarray, x: np.ndarray) -> Derivatives:
        r""":math:`\log p(y\mid x)` and its first two derivatives in x (broadcast)."""

    def log_pdf(self, y: Any, x: Any) -> np.ndarray:
        r""":math:`\log p(y_i\mid x_i)`, element-wise."""
        return self.log_pdf_derivatives(np.asarray(y, float), np.asarray(x, float))[0]

    @abstractmethod
    def sample(self, x: Any, random_state: Any = None) -> np.ndarray:
        """Draw outcomes given the linear predictors ``x``.

        Parameters
        ----------
        x
            Linear predictors, one per sample.
        random_state
            A ``numpy.random.Generator`` or ``RandomState``; a fresh generator if None.
        """

    def tilted_moments(self, y: np.ndarray, mu: np.ndarray, var: np.ndarray) -> TiltedMoments:
        r"""Moments of :math:`p(y_i\mid f)\,\mathcal N(f\mid\mu_i, v_i)` for every site.

        Parameters
        ----------
        y
            Outcomes (already checked), shape (n,).
        mu, var
            Mean and positive variance of each site's Gaussian factor, shape (n,).
        """
        y = np.asarray(y, dtype=float)

        def log_lik(x: np.ndarray, sites: Any = None, derivatives: bool = True) -> Derivatives:
            index = slice(None) if sites is None else sites
            if derivatives:
                return self._site_derivatives(index, y, x)
            return self._site_log_pdf(index, y, x), None, None

        return tilted_moments_by_quadrature(
            log_lik,
            mu,
            var,
            spacing=self._spacing,
            relative_spacing=self._relative_spacing,
            max_nodes=self._nodes,
        )

    def _site_derivatives(self, sites: Any, y: np.ndarray, x: np.ndarray) -> Derivatives:
        """Derivatives at the points x (rows) of the given sites of outcome y."""
        return self.log_pdf_derivatives(y[sites][:, None], x)

    def _site_log_pdf(self, sites: Any, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Log-density (no derivatives) at the points x (rows) of the given sites."""
        return self._site_derivatives(sites, y, x)[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._link!r})"


class BernoulliProdLik(ProdLik):
    r"""Product of Bernoulli likelihoods, :math:`\prod_i p_i^{y_i}(1-p_i)^{1-y_i}`.

    :math:`p_i = g^{-1}(x_i)` with the logit (default) or probit link; outcomes are 0 or 1.
    With the probit link the tilted moments are in closed form: for
    :math:`s = 2y-1` and :math:`z = s\mu/\sqrt{1+v}`,

    .. math::

        \hat Z = \Phi(z),\quad \hat\mu = \mu + \frac{s\,v\,r}{\sqrt{1+v}},\quad
        \hat v = v - \frac{v^2\, r\,(z + r)}{1+v},\qquad r = \phi(z)/\Phi(z).
    """

    name = "Bernoulli"
    _links = (LogitLink, ProbitLink)

    def check_outcome(self, y: Any, name: str = "y") -> np.ndarray:
        y = as_vector(y, name)
        _check_integers(y, name, 0, 1, f"{self.name} outcomes are 0 or 1")
        return y

    def log_pdf_derivatives(self, y: np.ndarray, x: np.ndarray) -> Derivatives:
        if isinstance(self._link, ProbitLink):
            return _log_probit(y, 1.0, x)
        return _log_logistic(y, 1.0, x)

    def _site_log_pdf(self, sites: Any, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        if isinstance(self._link, ProbitLink):
            return super()._site_log_pdf(sites, y, x)
        return _log_logistic_value(y[sites][:, None], 1.0, x)

    def sample(self, x: Any, random_state: Any = None) -> np.ndarray:
        p = self.mean(x)
        return _generator(random_state).binomial(1, p).astype(float)

    def tilted_moments(self, y: np.ndarray, mu: np.ndarray, var: np.ndarray) -> TiltedMoments:
        if not isinstance(self._link, ProbitLink):
            return super().tilted_moments(y, mu, var)
        s = 2.0 * np.asarray(y, dtype=float) - 1.0
        root = np.sqrt(1.0 + var)
        z = s * mu / root
        r = _mills_ratio(z)
        mean = mu + s * var * r / root
        variance = var - var * var * r * (z + r) / (1.0 + var)
        return TiltedMoments(log_zeroth=log_ndtr(z), mean=mean, variance=variance)


class ProbitProdLik(BernoulliProdLik):
    r"""Bernoulli likelihood with the probit link, :math:`p_i = \Phi(x_i)` (closed-form EP)."""

    name = "Probit"
    _links = (ProbitLink,)

    def __init__(self, link: Link | None = None, *, nodes: int = QUADRATURE_NODES) -> None:
        super().__init__(ProbitLink() if link is None else link, nodes=nodes)


class BinomialProdLik(ProdLik):
    r"""Product of binomial likelihoods,
    :math:`\prod_i \binom{n_i}{y_i} p_i^{y_i}(1-p_i)^{n_i-y_i}`.

    Parameters
    ----------
    ntrials
        Number of trials :math:`n_i` of each sample (positive integers).
    link
        Logit (default) or probit link, :math:`p_i = g^{-1}(x_i)`.

    Notes
    -----
    Outcomes are the numbers of successes :math:`y_i \in \{0, \dots, n_i\}`; the
    log-density includes :math:`\log\binom{n_i}{y_i}`.
    """

    name = "Binomial"
    _links = (LogitLink, ProbitLink)

    def __init__(self, ntrials: Any, link: Link | None = None, *, nodes: int = QUADRATURE_NODES):
        super().__init__(link, nodes=nodes)
        ntrials = as_vector(ntrials, "ntrials")
        _check_integers(ntrials, "ntrials", 1, np.inf, "numbers of trials are integers >= 1")
        self._ntrials = ntrials

    @property
    def ntrials(self) -> np.ndarray:
        """Number of trials of each sample."""
        return self._ntrials.copy()

    def check_outcome(self, y: Any, name: str = "y") -> np.ndarray:
        y = as_vector(y, name)
        if y.shape != self._ntrials.shape:
            raise InputError(
                f"{name} has {y.shape[0]} entries but ntrials has {self._ntrials.shape[0]}; "
                "give one number of trials per sample."
            )
        bad = (y != np.round(y)) | (y < 0) | (y > self._ntrials)
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(
                f"{name}[{i}] = {y[i]:g} is outside the support: {self.name} outcomes are "
                f"numbers of successes between 0 and ntrials[{i}] = {self._ntrials[i]:g}."
            )
        return y

    def log_pdf_derivatives(self, y: np.ndarray, x: np.ndarray) -> Derivatives:
        n = self._ntrials.reshape(self._ntrials.shape + (1,) * (np.ndim(x) - 1))
        return self._derivatives(y, n, x)

    def _site_derivatives(self, sites: Any, y: np.ndarray, x: np.ndarray) -> Derivatives:
        return self._derivatives(y[sites][:, None], self._ntrials[sites][:, None], x)

    def _site_log_pdf(self, sites: Any, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        if isinstance(self._link, ProbitLink):
            return super()._site_log_pdf(sites, y, x)
        y, n = y[sites][:, None], self._ntrials[sites][:, None]
        log_choose = gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)
        return _log_logistic_value(y, n, x) + log_choose

    def _derivatives(self, y: np.ndarray, n: np.ndarray, x: np.ndarray) -> Derivatives:
        log_choose = gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)
        if isinstance(self._link, ProbitLink):
            value, d1, d2 = _log_probit(y, n, x)
        else:
            value, d1, d2 = _log_logistic(y, n, x)
        return value + log_choose, d1, d2

    def sample(self, x: Any, random_state: Any = None) -> np.ndarray:
        p = self.mean(x)
        n = self._ntrials.astype(np.int64)
        return _generator(random_state).binomial(n, p).astype(float)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ntrials=..., link={self._link!r})"


class PoissonProdLik(ProdLik):
    r"""Product of Poisson likelihoods, :math:`\prod_i \lambda_i^{y_i}e^{-\lambda_i}/y_i!`,
    with :math:`\lambda_i = e^{x_i}` (log link); outcomes are counts :math:`y_i \ge 0`."""

    name = "Poisson"
    _links = (LogLink,)
    #: :math:`e^{x+iy}` turns the decay :math:`e^{-e^x}` into growth past :math:`|y| = \pi/2`.
    _spacing = 0.25
    _relative_spacing = 0.5

    def check_outcome(self, y: Any, name: str = "y") -> np.ndarray:
        y = as_vector(y, name)
        _check_integers(y, name, 0, np.inf, f"{self.name} outcomes are counts (integers >= 0)")
        return y

    def log_pdf_derivatives(self, y: np.ndarray, x: np.ndarray) -> Derivatives:
        rate = np.exp(x)
        return y * x - rate - gammaln(y + 1), y - rate, -rate

    def _site_log_pdf(self, sites: Any, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        y = y[sites][:, None]
        return y * x - np.exp(x) - gammaln(y + 1)

    def sample(self, x: Any, random_state: Any = None) -> np.ndarray:
        return _generator(random_state).poisson(self.mean(x)).astype(float)


class NormalProdLik(ProdLik):
    r"""Product of Normal likelihoods, :math:`\prod_i\mathcal N(y_i\mid x_i, \sigma^2)`
    (identity link).

    The tilted moments are exact:
    :math:`\hat Z = \mathcal N(y\mid\mu, v + \sigma^2)`,
    :math:`\hat\mu = (\mu\sigma^2 + y v)/(v + \sigma^2)`,
    :math:`\hat v = v\sigma^2/(v + \sigma^2)`; EP is then exact after one sweep, which
    makes this likelihood the oracle of the EP engine.

    Parameters
    ----------
    variance
        Noise variance :math:`\sigma^2 > 0`.
    """

    name = "Normal"
    _links = (IdentityLink,)

    def __init__(self, variance: float = 1.0, link: Link | None = None) -> None:
        super().__init__(link)
        variance = float(variance)
        if not np.isfinite(variance) or variance <= 0:
            raise InputError(f"variance must be positive and finite; got {variance}.")
        self._variance = variance

    @property
    def variance(self) -> float:
        r"""Noise variance :math:`\sigma^2`."""
        return self._variance

    def check_outcome(self, y: Any, name: str = "y") -> np.ndarray:
        return as_vector(y, name)

    def log_pdf_derivatives(self, y: np.ndarray, x: np.ndarray) -> Derivatives:
        r = y - x
        value = -0.5 * (r * r / self._variance + LOG2PI + np.log(self._variance))
        return value, r / self._variance, np.full(np.shape(value), -1.0 / self._variance)

    def sample(self, x: Any, random_state: Any = None) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        noise = _generator(random_state).normal(size=x.shape)
        return x + np.sqrt(self._variance) * noise

    def tilted_moments(self, y: np.ndarray, mu: np.ndarray, var: np.ndarray) -> TiltedMoments:
        total = var + self._variance
        r = y - mu
        log_zeroth = -0.5 * (r * r / total + LOG2PI + np.log(total))
        mean = (mu * self._variance + y * var) / total
        variance = var * self._variance / total
        return TiltedMoments(log_zeroth=log_zeroth, mean=mean, variance=variance)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(variance={self._variance})"
