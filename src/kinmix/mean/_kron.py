r"""Kronecker mean, :math:`\mathbf m = (\mathrm A\otimes\mathrm X)\,\mathrm{vec}(\mathrm B)`."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import as_matrix
from ..params import Parameter
from ._base import Mean


class KronMean(Mean):
    r"""Kronecker mean function,
    :math:`\mathbf m = (\mathrm A\otimes\mathrm X)\,\mathrm{vec}(\mathrm B)
    = \mathrm{vec}(\mathrm{XBA}^\intercal)`.

    Parameters
    ----------
    A : array_like, shape (p, q)
        Trait design: column :math:`a` says how effect :math:`a` enters each of the
        :math:`p` traits (the identity for one effect per trait).
    X : array_like, shape (n, c)
        Sample design (covariates).

    Notes
    -----
    One parameter, :math:`\mathrm B` (:math:`c\times q`, initially 0). Its free
    coordinates are :math:`\mathrm{vec}(\mathrm B)` (column-major), so the gradient key
    ``"vecB"`` holds :math:`\partial\mathbf m/\partial\mathrm{vec}(\mathrm B) =
    \mathrm A\otimes\mathrm X`, an :math:`np\times cq` matrix.
    """

    def __init__(self, A: Any, X: Any) -> None:
        self._A = as_matrix(A, "A")
        self._X = as_matrix(X, "X")
        c, q = self._X.shape[1], self._A.shape[1]
        # Stored transposed: the row-major free coordinates of Bᵀ are vec(B).
        self._vecB = Parameter("vecB", np.zeros((q, c)))
        super().__init__("KronMean")

    @property
    def A(self) -> np.ndarray:
        r"""Trait design :math:`\mathrm A` (:math:`p\times q`)."""
        return self._A

    @property
    def X(self) -> np.ndarray:
        r"""Sample design :math:`\mathrm X` (:math:`n\times c`)."""
        return self._X

    @property
    def AX(self) -> np.ndarray:
        r""":math:`\mathrm A\otimes\mathrm X` (dense, :math:`np\times cq`)."""
        return np.kron(self._A, self._X)

    @property
    def B(self) -> np.ndarray:
        r"""Effect sizes :math:`\mathrm B` (:math:`c\times q`, a copy)."""
        return self._vecB.value.T

    @B.setter
    def B(self, value: Any) -> None:
        self._vecB.value = np.asarray(value, dtype=float).T

    @property
    def nparams(self) -> int:
        """Number of effect sizes, :math:`cq`."""
        return self._vecB.size

    @property
    def size(self) -> int:
        return self._X.shape[0] * self._A.shape[0]

    def parameters(self) -> dict[str, Parameter]:
        return {"vecB": self._vecB}

    def value(self) -> np.ndarray:
        r""":math:`\mathrm{vec}(\mathrm{XBA}^\intercal)`, in :math:`O(ncq + npq)`."""
        return (self._X @ self.B @ self._A.T).reshape(-1, order="F")

    def gradient(self) -> dict[str, np.ndarray]:
        r"""``{"vecB": A ⊗ X}``."""
        return {"vecB": self.AX}

    def _arguments(self) -> str:
        return "A=..., X=..."

    def _attributes(self) -> list[tuple[str, object]]:
        return [("B", self.B)]
