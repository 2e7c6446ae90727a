r"""Derivatives of :math:`\mathrm K = \mathrm L\mathrm L^\intercal` over entries of L."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..params import Parameter
from ._base import Covariance


def factor_gradient(
    L: np.ndarray, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    r"""Stack :math:`w_k\,\partial(\mathrm L\mathrm L^\intercal)/\partial L_{i_k j_k}`.

    With :math:`\mathbf e_i` the i-th unit vector and :math:`\mathbf l_j` the j-th column
    of :math:`\mathrm L` (:math:`n\times m`),

    .. math::

        \frac{\partial\,\mathrm L\mathrm L^\intercal}{\partial L_{ij}}
        = \mathbf e_i\mathbf l_j^\intercal + \mathbf l_j\mathbf e_i^\intercal.

    The weight :math:`w_k` is the chain-rule factor of the k-th free coordinate
    (1 for an entry used as is, :math:`L_{ii}` for a coordinate :math:`\log L_{ii}`).

    Returns
    -------
    (n, n, p) ndarray
        The derivative for coordinate k in ``[:, :, k]``.
    """
    n = L.shape[0]
    k = np.arange(rows.size)
    columns = L[:, cols] * weights
    grad = np.zeros((n, n, rows.size))
    grad[rows, :, k] = columns.T
    grad[:, rows, k] += columns
    return grad


class FactorCov(Covariance):
    r"""Base of the covariances :math:`\mathrm{LL}^\intercal (+\,\epsilon\mathrm I)`.

    Subclasses set ``self._L`` (the :class:`~kinmix.params.Parameter` holding
    :math:`\mathrm L`, whose free coordinates are ``Lu``) and ``self._rows``,
    ``self._cols`` (the entry of :math:`\mathrm L` behind each free coordinate) before
    calling ``super().__init__(name)``; they describe ``Lu`` in their own docstring.
    """

    _L: Parameter
    _rows: np.ndarray
    _cols: np.ndarray

    @property
    def L(self) -> np.ndarray:
        r"""The factor :math:`\mathrm L` (a copy)."""
        return self._L.value

    @L.setter
    def L(self, value: Any) -> None:
        self._L.value = value

    @property
    def Lu(self) -> np.ndarray:
        r"""Free coordinates of :math:`\mathrm L` (see the class notes for their order)."""
        return self._L.free

    @Lu.setter
    def Lu(self, value: Any) -> None:
        self._L.free = value

    @property
    def shape(self) -> tuple[int, int]:
        n = self._L.shape[0]
        return (n, n)

    def parameters(self) -> dict[str, Parameter]:
        return {"Lu": self._L}

    def _attributes(self) -> list[tuple[str, object]]:
        return [("L", self.L)]
