r"""Derivatives of :math:`\mathrm K = \mathrm L\mathrm L^\intercal` over entries of L."""

from __future__ import annotations

import numpy as np


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
