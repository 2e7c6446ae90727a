r"""Offset mean, :math:`\mathbf m = \theta\mathbf 1`."""

from __future__ import annotations

import numpy as np

from .._validate import check_dimension
from ..params import Parameter
from ._base import Mean


class OffsetMean(Mean):
    r"""Offset mean function, :math:`\mathbf m = \theta\mathbf 1_n`.

    Parameters
    ----------
    n
        Length of the mean vector.

    Notes
    -----
    One parameter, the offset :math:`\theta` (initially 0, fitted within
    :math:`[-200, 200]`), with :math:`\partial\mathbf m/\partial\theta = \mathbf 1`
    under the gradient key ``"offset"``.
    """

    def __init__(self, n: int) -> None:
        self._n = check_dimension(n, "n")
        self._offset = Parameter("offset", 0.0, bounds=(-200.0, 200.0))
        super().__init__("OffsetMean")

    @property
    def offset(self) -> float:
        r"""Offset :math:`\theta`."""
        return self._offset.value

    @offset.setter
    def offset(self, value: float) -> None:
        self._offset.value = value

    @property
    def size(self) -> int:
        return self._n

    def fix_offset(self) -> None:
        r"""Keep :math:`\theta` out of fitting."""
        self._offset.fix()

    def unfix_offset(self) -> None:
        r"""Let :math:`\theta` be fitted."""
        self._offset.unfix()

    def parameters(self) -> dict[str, Parameter]:
        return {"offset": self._offset}

    def value(self) -> np.ndarray:
        r""":math:`\theta\mathbf 1`."""
        return np.full(self._n, self.offset)

    def gradient(self) -> dict[str, np.ndarray]:
        r"""``{"offset": 𝟏}``."""
        return {"offset": np.ones(self._n)}

    def _attributes(self) -> list[tuple[str, object]]:
        return [("offset", self.offset)]
