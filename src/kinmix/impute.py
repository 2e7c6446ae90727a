r"""Mean imputation of dosage columns: the one routine every genotype path calls.

For variant (column) j let :math:`O_j` be the samples whose dosage is observed (not NaN)
and :math:`n_j = |O_j|`. Its mean is that of the observed dosages,

.. math::

    \bar g_j = \frac{1}{n_j}\sum_{i \in O_j} g_{ij},

and each missing :math:`g_{ij}` is replaced by :math:`\bar g_j`, so imputation leaves the
column's mean unchanged and adds no variance. A column with no observed dosage has no mean;
it is filled with a value the caller chooses (``empty``: 0 for the kinship and the scan,
which then call it constant or all-missing; NaN where the NaN must travel on).

Centring and scaling come after imputation and belong to the caller:
:func:`kinmix.grm.kinship_columns` standardises,
:math:`z_{ij} = (g_{ij} - \bar g_j)/\sigma_j` with :math:`\sigma_j^2` the mean square of the
centred imputed column; the scan tests the imputed dosages themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError


@dataclass(frozen=True)
class Imputation:
    r"""What :func:`mean_impute` found: ``nobs`` (m,) the counts :math:`n_j` of observed
    dosages and ``mean`` (m,) the means :math:`\bar g_j` (``empty`` where :math:`n_j = 0`,
    or the given means)."""

    nobs: np.ndarray
    mean: np.ndarray


def mean_impute(
    G: np.ndarray, *, mean: np.ndarray | None = None, empty: float = 0.0
) -> Imputation:
    r"""Replace, in place, every NaN of the float64 array ``G`` (n, m) by its column's mean.

    Parameters
    ----------
    G : numpy.ndarray, shape (n, m), float64
        Dosages, NaN where missing; overwritten. Infinite values are refused.
    mean : numpy.ndarray, shape (m,), optional
        Means to impute with instead of those of the observed dosages (for instance those
        of the pass that built a kinship, when the same variants are read again).
    empty : float
        The mean of a column with no observed dosage.

    Returns
    -------
    Imputation
        The counts of observed dosages and the means used.

    Cost: four passes over ``G`` and no float temporary: find the missing entries, set
    them to 0, sum the columns (the sums ``numpy.nansum`` gives, bit for bit; they also
    reveal an infinite value) and write the means into the missing entries. Without missing
    entries the second and last passes are skipped.
    """
    missing = np.isnan(G)
    nobs = G.shape[0] - np.count_nonzero(missing, axis=0)
    incomplete = bool((nobs < G.shape[0]).any())
    if incomplete:
        np.copyto(G, 0.0, where=missing)
    sums = G.sum(axis=0)
    if not np.isfinite(sums).all():
        raise InputError("G contains infinite values; genotypes must be finite or NaN.")
    if mean is None:
        mean = np.where(nobs > 0, sums / np.maximum(nobs, 1), empty)
    if incomplete:
        np.copyto(G, mean, where=missing)
    return Imputation(nobs, mean)
