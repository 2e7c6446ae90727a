r"""Identity covariance, :math:`\mathrm K = s\,\mathrm I`."""

from __future__ import annotations

import numpy as np

from .._validate import check_dimension
from ._base import ScaledCovariance


class EyeCov(ScaledCovariance):
    r"""Identity covariance function, :math:`\mathrm K = s\,\mathrm I_d`.

    Parameters
    ----------
    dim
        Dimension :math:`d` of the matrix.

    Notes
    -----
    One parameter, the scale :math:`s` (gradient key ``"logscale"``,
    :math:`\partial\mathrm K/\partial\log s = s\,\mathrm I`), initially 1. The printout
    is ``EyeCov(dim=d): name`` followed by the scale.
    """

    def __init__(self, dim: int) -> None:
        super().__init__("EyeCov")
        self._identity = np.eye(check_dimension(dim, "dim"))

    @property
    def dim(self) -> int:
        """Dimension :math:`d`: the number of rows and of columns."""
        return self._identity.shape[0]

    def _unscaled(self) -> np.ndarray:
        return self._identity

    def _arguments(self) -> str:
        return f"dim={self.dim}"
