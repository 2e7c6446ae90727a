r"""Low-rank free-form covariance, :math:`\mathrm K = \mathrm L\mathrm L^\intercal`."""

from __future__ import annotations

import numpy as np

from .._validate import check_dimension
from ..params import Parameter
from ._factor import FactorCov, factor_gradient


class LRFreeFormCov(FactorCov):
    r"""Positive semi-definite matrix of rank at most m, :math:`\mathrm K = \mathrm{LL}^\intercal`.

    Parameters
    ----------
    n
        Dimension of :math:`\mathrm K`.
    m
        Number of columns of :math:`\mathrm L` (:math:`n\times m`), the largest rank.

    Notes
    -----
    Every entry of :math:`\mathrm L` is a free coordinate (initially 1), unbounded, flat
    in row-major order under the gradient key ``"Lu"``; the gradient has shape
    :math:`n\times n\times nm` with
    :math:`\partial\mathrm K/\partial L_{ij} = \mathbf e_i\mathbf l_j^\intercal +
    \mathbf l_j\mathbf e_i^\intercal`.
    """

    def __init__(self, n: int, m: int) -> None:
        n = check_dimension(n, "n")
        m = check_dimension(m, "m")
        self._L = Parameter("L", np.ones((n, m)))
        self._rows, self._cols = (idx.ravel() for idx in np.indices((n, m)))
        super().__init__("LRFreeFormCov")

    def value(self) -> np.ndarray:
        r""":math:`\mathrm L\mathrm L^\intercal`."""
        L = self.L
        return L @ L.T

    def gradient(self) -> dict[str, np.ndarray]:
        r"""``{"Lu": ∂K/∂Lu}``, of shape :math:`n\times n\times nm`."""
        return {"Lu": factor_gradient(self.L, self._rows, self._cols, np.ones(self._rows.size))}

    def _arguments(self) -> str:
        n, m = self._L.shape
        return f"n={n}, m={m}"
