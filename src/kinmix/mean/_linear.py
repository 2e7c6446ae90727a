r"""Linear mean, :math:`\mathbf m = \mathrm X\boldsymbol\alpha`."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import as_matrix
from ..params import Parameter
from ._base import Mean


class LinearMean(Mean):
    r"""Linear mean function, :math:`\mathbf m = \mathrm X\boldsymbol\alpha`.

    Parameters
    ----------
    X
        Covariates, an :math:`n\times m` matrix.

    Notes
    -----
    One vector parameter, the effect sizes :math:`\boldsymbol\alpha` (initially 0,
    each fitted within :math:`[-200, 200]`), with
    :math:`\partial\mathbf m/\partial\boldsymbol\alpha = \mathrm X` under the gradient key
    ``"effsizes"``.
    """

    def __init__(self, X: Any) -> None:
        self._X = as_matrix(X, "X")
        m = self._X.shape[1]
        self._effsizes = Parameter("effsizes", np.zeros(m), bounds=(-200.0, 200.0))
        super().__init__("LinearMean")

    @property
    def X(self) -> np.ndarray:
        r"""Covariates :math:`\mathrm X` (:math:`n\times m`)."""
        return self._X

    @property
    def effsizes(self) -> np.ndarray:
        r"""Effect sizes :math:`\boldsymbol\alpha` (a copy), of size m."""
        return self._effsizes.value

    @effsizes.setter
    def effsizes(self, value: Any) -> None:
        self._effsizes.value = value

    @property
    def size(self) -> int:
        return self._X.shape[0]

    def fix_effsizes(self) -> None:
        r"""Keep :math:`\boldsymbol\alpha` out of fitting."""
        self._effsizes.fix()

    def unfix_effsizes(self) -> None:
        r"""Let :math:`\boldsymbol\alpha` be fitted."""
        self._effsizes.unfix()

    def parameters(self) -> dict[str, Parameter]:
        return {"effsizes": self._effsizes}

    def value(self) -> np.ndarray:
        r""":math:`\mathrm X\boldsymbol\alpha`."""
        return self._X @ self.effsizes

    def gradient(self) -> dict[str, np.ndarray]:
        r"""``{"effsizes": X}``."""
        return {"effsizes": self._X}

    def _arguments(self) -> str:
        return f"m={self._X.shape[1]}"

    def _attributes(self) -> list[tuple[str, object]]:
        return [("effsizes", self.effsizes)]
