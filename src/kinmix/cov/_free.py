r"""Free-form covariance, :math:`\mathrm K = \mathrm{LL}^\intercal + \epsilon\mathrm I`."""

from __future__ import annotations

import numpy as np

from .._validate import check_dimension
from ..constants import FREE_FORM_JITTER
from ..params import LOWER_CHOLESKY, Parameter
from ._factor import FactorCov, factor_gradient


class FreeFormCov(FactorCov):
    r"""General positive-definite matrix, :math:`\mathrm{LL}^\intercal + \epsilon\mathrm I`.

    Parameters
    ----------
    dim
        Dimension :math:`d` of the matrix.

    Notes
    -----
    :math:`\mathrm L` is lower triangular with a positive diagonal, parametrised by the
    :math:`d(d+1)/2` free coordinates ``Lu``: the strictly lower entries row by row, then
    :math:`\log L_{ii}` (bounded to :math:`[\log\epsilon, 11]`). Initially every entry
    of the lower triangle is 1. The gradient key is ``"Lu"``, an array of shape
    :math:`d\times d\times d(d+1)/2`:

    .. math::

        \frac{\partial\mathrm K}{\partial L_{ij}}
        = \mathbf e_i\mathbf l_j^\intercal + \mathbf l_j\mathbf e_i^\intercal,
        \qquad
        \frac{\partial\mathrm K}{\partial\log L_{ii}}
        = L_{ii}(\mathbf e_i\mathbf l_i^\intercal + \mathbf l_i\mathbf e_i^\intercal),

    with :math:`\mathbf l_j` the j-th column of :math:`\mathrm L`. The default name is
    ``"FreeCov"``, as in the seed.
    """

    def __init__(self, dim: int) -> None:
        d = check_dimension(dim, "dim")
        nlower = d * (d - 1) // 2
        bounds = [(-np.inf, np.inf)] * nlower + [(float(np.log(FREE_FORM_JITTER)), 11.0)] * d
        self._L = Parameter("L", np.tril(np.ones((d, d))), transform=LOWER_CHOLESKY, bounds=bounds)
        lower_rows, lower_cols = np.tril_indices(d, k=-1)
        diagonal = np.arange(d)
        self._rows = np.concatenate([lower_rows, diagonal])
        self._cols = np.concatenate([lower_cols, diagonal])
        self._nlower = nlower
        super().__init__("FreeCov")

    def value(self) -> np.ndarray:
        r""":math:`\mathrm L\mathrm L^\intercal + \epsilon\mathrm I`."""
        L = self.L
        return L @ L.T + FREE_FORM_JITTER * np.eye(L.shape[0])

    def gradient(self) -> dict[str, np.ndarray]:
        r"""``{"Lu": ∂K/∂Lu}``, of shape :math:`d\times d\times d(d+1)/2`."""
        L = self.L
        weights = np.concatenate([np.ones(self._nlower), np.diag(L)])
        return {"Lu": factor_gradient(L, self._rows, self._cols, weights)}

    def eigh(self) -> tuple[np.ndarray, np.ndarray]:
        r"""Eigendecomposition from the SVD :math:`\mathrm L = \mathrm U\Sigma\mathrm V^\intercal`.

        Returns
        -------
        S : (d,) ndarray
            Eigenvalues :math:`\sigma_i^2 + \epsilon` in ascending order.
        U : (d, d) ndarray
            The matching eigenvectors (left singular vectors of :math:`\mathrm L`).
        """
        U, sigma, _ = np.linalg.svd(self.L)
        return sigma[::-1] ** 2 + FREE_FORM_JITTER, U[:, ::-1]

    def _arguments(self) -> str:
        return f"dim={self.shape[0]}"
