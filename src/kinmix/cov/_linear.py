r"""Linear covariance, :math:`\mathrm K = s\,\mathrm X\mathrm X^\intercal`."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import as_matrix
from ._base import ScaledCovariance


class LinearCov(ScaledCovariance):
    r"""Linear covariance function, :math:`\mathrm K = s\,\mathrm X\mathrm X^\intercal`.

    Parameters
    ----------
    X
        An :math:`n\times r` matrix (for instance standardised genotypes over
        :math:`\sqrt r`, which makes :math:`\mathrm X\mathrm X^\intercal` a kinship).

    Notes
    -----
    One parameter, the scale :math:`s` (gradient key ``"logscale"``,
    :math:`\partial\mathrm K/\partial\log s = s\,\mathrm X\mathrm X^\intercal`), initially
    1. :math:`\mathrm X\mathrm X^\intercal` is formed once, in :math:`O(n^2 r)`.
    """

    def __init__(self, X: Any) -> None:
        super().__init__("LinearCov")
        self._X = as_matrix(X, "X")
        self._XXt = self._X @ self._X.T

    @property
    def X(self) -> np.ndarray:
        r"""Matrix :math:`\mathrm X` of :math:`\mathrm K = s\,\mathrm X\mathrm X^\intercal`."""
        return self._X

    def _unscaled(self) -> np.ndarray:
        return self._XXt
