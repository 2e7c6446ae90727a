r"""Common interface of the mean functions.

A mean function is a vector :math:`\mathbf m(\boldsymbol\theta)` of size :math:`n`.
``value()`` returns :math:`\mathbf m` and ``gradient()`` returns, for each parameter key,
:math:`\partial\mathbf m/\partial\theta`: an :math:`n`-vector for a scalar parameter and
an :math:`n\times p` array for a parameter with :math:`p` free coordinates.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from ..params import Parametric


class Mean(Parametric):
    """Base class of the mean functions (see the module notes)."""

    @property
    @abstractmethod
    def size(self) -> int:
        r"""Length :math:`n` of the mean vector."""

    @abstractmethod
    def value(self) -> np.ndarray:
        r"""Mean vector :math:`\mathbf m`."""

    @abstractmethod
    def gradient(self) -> dict[str, np.ndarray]:
        r"""Derivatives :math:`\partial\mathbf m/\partial\theta` by parameter key."""
