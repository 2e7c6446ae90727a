r"""Tilted moments of log-concave likelihoods by quadrature on a mode-centred grid.

Expectation propagation needs, for each site, the zeroth, first and second moments of
the *tilted* density

.. math::

    \hat Z = \int p(y\mid f)\,\mathcal N(f\mid\mu, v)\,\mathrm df, \qquad
    \hat\mu = \hat Z^{-1}\!\int f\,p(y\mid f)\,\mathcal N(f\mid\mu, v)\,\mathrm df, \qquad
    \hat v = \hat Z^{-1}\!\int (f-\hat\mu)^2\,p(y\mid f)\,\mathcal N(f\mid\mu, v)\,
    \mathrm df .

For a log-concave likelihood the log integrand
:math:`h(f) = \log p(y\mid f) - (f-\mu)^2/(2v)` is strictly concave, so

1. its mode :math:`f^*` is the unique root of :math:`h'`, bracketed by
   :math:`\mu` and :math:`\mu + v\,\ell'(\mu)` (:math:`\ell = \log p`), and found by
   Newton's method safeguarded with bisection;
2. on each side of the mode :math:`h` falls below :math:`h(f^*) - \Delta` at a single
   point; a point beyond it comes from concavity (a chord from the mode under-estimates
   the fall) and is moved towards it by Newton steps taken from outside, which never
   cross it;
3. between the two points the integrand is smooth and negligible at the ends, where the
   trapezoidal rule converges geometrically in the number of nodes; the moments are sums
   of :math:`w_j = e^{h(f_j) - h(f^*)}`, centred at the mode so the variance is free of
   cancellation.

Gauss–Hermite rules centred at :math:`\mu` fail in the tails (a likelihood far from the
prior mean moves the mass outside the nodes); this grid follows the mass instead.
Everything is vectorised over sites: a call costs :math:`O(n\cdot N)` evaluations of
:math:`\ell` for :math:`N` nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..constants import LOG2PI

__all__ = ["TiltedMoments", "tilted_moments_by_quadrature"]

#: Fall of the log integrand from its maximum at which the grid stops: e^-40 ≈ 4e-18.
_DROP = 40.0
_NEWTON_STEPS = 100
_MODE_RTOL = 1e-10
_BISECTIONS = 16

#: ``log_lik(x, sites=None, derivatives=True) -> (value, first, second derivative)`` at x
#: (n, m), row i of x belonging to site ``sites[i]`` (all sites, in order, when ``sites``
#: is None); with ``derivatives=False`` the derivatives may be None.
LogLik = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class TiltedMoments:
    r"""Moments of the tilted densities :math:`p(y_i\mid f)\mathcal N(f\mid\mu_i, v_i)`.

    Attributes
    ----------
    log_zeroth
        :math:`\log\hat Z_i`.
    mean
        :math:`\hat\mu_i`.
    variance
        :math:`\hat v_i`.
    """

    log_zeroth: np.ndarray
    mean: np.ndarray
    variance: np.ndarray


def _mode(log_lik: LogLik, mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Root of h'(f) = l'(f) - (f - mu)/var by bisection-safeguarded Newton."""
    _, d1, _ = log_lik(mu[:, None])
    other = mu + var * d1[:, 0]
    lo = np.minimum(mu, other)
    hi = np.maximum(mu, other)
    x = mu.copy()
    last = hi - lo
    for _ in range(_NEWTON_STEPS):
        _, d1, d2 = log_lik(x[:, None])
        g = d1[:, 0] - (x - mu) / var
        dg = d2[:, 0] - 1.0 / var
        lo = np.where(g > 0, x, lo)
        hi = np.where((g < 0) | np.isnan(g), x, hi)
        step = g / dg
        new = x - step
        # Bisect when Newton leaves the bracket or does not halve the previous step.
        bisect = ~((new > lo) & (new < hi)) | (2.0 * np.abs(step) > np.abs(last))
        # The mode only centres the grid: a Newton step of 1e-10 (relative) is plenty.
        done = np.abs(step) <= _MODE_RTOL * (1.0 + np.abs(x))
        new = np.where(done, x, np.where(bisect, 0.5 * (lo + hi), new))
        last = new - x
        x = new
        if done.all():
            break
    return x


def _log_integrand(log_lik: LogLik, x: np.ndarray, mu: np.ndarray, var: np.ndarray):
    value, d1, d2 = log_lik(x)
    diff = x - mu[:, None]
    return value - 0.5 * diff * diff / var[:, None], d1 - diff / var[:, None], d2


def _log_integrand_value(log_lik: LogLik, x: np.ndarray, mu: np.ndarray, var: np.ndarray):
    diff = x - mu[:, None]
    return log_lik(x, derivatives=False)[0] - 0.5 * diff * diff / var[:, None]


def _end(log_lik, mode, top, scale, mu, var, side):
    """Distance from the mode to a point just beyond the fall of ``_DROP`` on one side."""
    t1 = scale * np.sqrt(2.0 * _DROP)
    fall = top - _log_integrand_value(log_lik, (mode + side * t1)[:, None], mu, var)[:, 0]
    chord = np.where(fall > 0, t1 * _DROP / np.maximum(fall, 1e-300), np.inf)
    outer = np.where(fall >= _DROP, t1, np.minimum(chord, np.sqrt(2.0 * _DROP * var)))
    inner = np.zeros_like(outer)
    for _ in range(_BISECTIONS):
        middle = 0.5 * (inner + outer)
        h = _log_integrand_value(log_lik, (mode + side * middle)[:, None], mu, var)[:, 0]
        beyond = (top - h >= _DROP) | np.isnan(h)
        outer = np.where(beyond, middle, outer)
        inner = np.where(beyond, inner, middle)
    return outer


def tilted_moments_by_quadrature(
    log_lik: LogLik,
    mu: np.ndarray,
    var: np.ndarray,
    *,
    spacing: float,
    relative_spacing: float,
    max_nodes: int,
) -> TiltedMoments:
    r"""Tilted moments of a log-concave likelihood (see the module notes).

    Parameters
    ----------
    log_lik
        ``log_lik(x, sites=None, derivatives=True)`` returns :math:`\ell_i(x)`,
        :math:`\ell_i'(x)` and :math:`\ell_i''(x)` for an array ``x`` of shape (n, m) whose
        rows hold points for the sites ``sites`` (every site when None); the derivatives
        may be None when ``derivatives`` is False.
    mu, var
        Means and variances (positive) of the Gaussian factors, shape (n,).
    spacing
        Largest node spacing in absolute units, set by how close to the real axis the
        likelihood has singularities (the trapezoidal error decays like
        :math:`e^{-2\pi d/h}` for a strip of half-width d and spacing h).
    relative_spacing
        Largest node spacing relative to the Laplace scale at the mode.
    max_nodes
        Largest number of nodes per site.

    Returns
    -------
    TiltedMoments

    Notes
    -----
    The spacing of site i is :math:`\min(r s_i, \text{spacing})`, with
    r = ``relative_spacing`` and :math:`s_i` the Laplace scale
    :math:`(-h''(f^*))^{-1/2}` at the mode; the number of nodes is rounded up
    to a power of two (at least 32, at most ``max_nodes``) so that sites are processed in
    a few vectorised groups.
    """
    mu = np.asarray(mu, dtype=float)
    var = np.asarray(var, dtype=float)
    log_zeroth = np.empty_like(mu)
    mean = np.empty_like(mu)
    variance = np.empty_like(mu)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        mode = _mode(log_lik, mu, var)
        top, _, d2 = _log_integrand(log_lik, mode[:, None], mu, var)
        top = top[:, 0]
        scale = 1.0 / np.sqrt(1.0 / var - d2[:, 0])
        left = _end(log_lik, mode, top, scale, mu, var, -1.0)
        right = _end(log_lik, mode, top, scale, mu, var, +1.0)
        width = left + right
        wanted = width / np.minimum(relative_spacing * scale, spacing)
        nodes = np.clip(2 ** np.ceil(np.log2(np.maximum(wanted, 1.0))), 32, max_nodes)
        for count in np.unique(nodes):
            sites = np.flatnonzero(nodes == count)
            grid = np.linspace(0.0, 1.0, int(count))
            offsets = -left[sites, None] + width[sites, None] * grid
            h = _log_integrand_value(
                _restrict(log_lik, sites), mode[sites, None] + offsets, mu[sites], var[sites]
            )
            w = np.exp(h - top[sites, None])
            w[:, 0] *= 0.5
            w[:, -1] *= 0.5
            total = w.sum(axis=1)
            shift = (w * offsets).sum(axis=1) / total
            centred = offsets - shift[:, None]
            variance[sites] = (w * centred * centred).sum(axis=1) / total
            mean[sites] = mode[sites] + shift
            step = width[sites] / (count - 1)
            log_zeroth[sites] = (
                top[sites] + np.log(total * step) - 0.5 * (LOG2PI + np.log(var[sites]))
            )
    return TiltedMoments(log_zeroth=log_zeroth, mean=mean, variance=variance)


def _restrict(log_lik: LogLik, sites: np.ndarray) -> LogLik:
    """``log_lik`` for a subset of the sites (rows)."""
    return lambda x, derivatives=True: log_lik(x, sites, derivatives=derivatives)
