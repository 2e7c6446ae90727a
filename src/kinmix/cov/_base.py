r"""Common interface of the covariance functions.

A covariance function is a symmetric positive semi-definite matrix
:math:`\mathrm K(\boldsymbol\theta)` of shape :math:`n\times n` that depends on free
parameters :math:`\boldsymbol\theta`. ``value()`` returns :math:`\mathrm K` and
``gradient()`` returns, for each parameter key, :math:`\partial\mathrm K/\partial\theta`;
a parameter with :math:`p` free coordinates gives an :math:`n\times n\times p` array whose
last axis runs over the coordinates.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from ..errors import FitError
from ..params import LOG, Parameter, Parametric


class Covariance(Parametric):
    """Base class of the covariance functions (see the module notes)."""

    @property
    @abstractmethod
    def shape(self) -> tuple[int, int]:
        """Shape :math:`(n, n)` of the covariance matrix."""

    @abstractmethod
    def value(self) -> np.ndarray:
        r"""Covariance matrix :math:`\mathrm K`."""

    @abstractmethod
    def gradient(self) -> dict[str, np.ndarray]:
        r"""Derivatives :math:`\partial\mathrm K/\partial\theta` by parameter key."""

    @property
    def nparams(self) -> int:
        """Number of free coordinates of all parameters, fixed or not."""
        return sum(p.size for p in self.parameters().values())

    def fix(self) -> None:
        """Keep every parameter of this covariance out of fitting."""
        for parameter in self.parameters().values():
            parameter.fix()

    def unfix(self) -> None:
        """Let every parameter of this covariance be fitted."""
        for parameter in self.parameters().values():
            parameter.unfix()

    def logdet(self) -> float:
        r"""Log-determinant :math:`\log|\mathrm K|`, by an :math:`O(n^3)` factorisation.

        Raises
        ------
        FitError
            If :math:`\mathrm K` is not positive definite.
        """
        sign, logdet = np.linalg.slogdet(self.value())
        if sign <= 0:
            raise FitError(
                f"the covariance {self.name} is not positive definite (determinant sign "
                f"{sign:g}), so its log-determinant is undefined."
            )
        return float(logdet)

    def eigh(self) -> tuple[np.ndarray, np.ndarray]:
        r"""Eigendecomposition :math:`\mathrm K = \mathrm U\mathrm S\mathrm U^\intercal`.

        Returns
        -------
        S : (n,) ndarray
            Eigenvalues in ascending order.
        U : (n, n) ndarray
            Orthonormal eigenvectors, one per column.
        """
        S, U = np.linalg.eigh(self.value())
        return S, U


class ScaledCovariance(Covariance):
    r"""A fixed matrix times a positive scale, :math:`\mathrm K = s\,\mathrm K_0`.

    The scale is fitted on the log scale, :math:`\log s \in [-20, 10]`, and its gradient
    key is ``"logscale"``: :math:`\partial\mathrm K/\partial\log s = s\,\mathrm K_0`.
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._scale = Parameter("scale", 1.0, transform=LOG, bounds=(-20.0, 10.0))

    @abstractmethod
    def _unscaled(self) -> np.ndarray:
        r"""The matrix :math:`\mathrm K_0`."""

    @property
    def scale(self) -> float:
        """Scale parameter, :math:`s > 0`."""
        return self._scale.value

    @scale.setter
    def scale(self, scale: float) -> None:
        self._scale.value = scale

    @property
    def shape(self) -> tuple[int, int]:
        n = self._unscaled().shape[0]
        return (n, n)

    def parameters(self) -> dict[str, Parameter]:
        return {"logscale": self._scale}

    def value(self) -> np.ndarray:
        r""":math:`s\,\mathrm K_0`."""
        return self.scale * self._unscaled()

    def gradient(self) -> dict[str, np.ndarray]:
        r"""``{"logscale": s K₀}``, the derivative over :math:`\log s`."""
        return {"logscale": self.value()}

    def _attributes(self) -> list[tuple[str, object]]:
        return [("scale", self.scale)]
