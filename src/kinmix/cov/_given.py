r"""A given matrix times a scale, :math:`\mathrm K = s\,\mathrm K_0`."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import as_matrix
from ..errors import InputError
from ._base import ScaledCovariance


class GivenCov(ScaledCovariance):
    r"""Given covariance function, :math:`\mathrm K = s\,\mathrm K_0`.

    Parameters
    ----------
    K0
        Symmetric positive semi-definite :math:`n\times n` matrix :math:`\mathrm K_0`.

    Notes
    -----
    One parameter, the scale :math:`s` (gradient key ``"logscale"``,
    :math:`\partial\mathrm K/\partial\log s = s\,\mathrm K_0`), initially 1.
    """

    def __init__(self, K0: Any) -> None:
        super().__init__("GivenCov")
        K0 = as_matrix(K0, "K0")
        if K0.shape[0] != K0.shape[1]:
            raise InputError(f"K0 must be a square matrix; got shape {K0.shape}.")
        if not np.allclose(K0, K0.T, rtol=1e-10, atol=1e-12):
            raise InputError("K0 must be symmetric; it differs from its transpose.")
        self._K0 = K0

    def _unscaled(self) -> np.ndarray:
        return self._K0

    def _arguments(self) -> str:
        return "K0=..."
