r"""Sum of covariance functions, :math:`\mathrm K = \mathrm K_0 + \mathrm K_1 + \cdots`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ..params import Parameter, Parametric, prefixed
from ._base import Covariance


class SumCov(Covariance):
    r"""Sum of covariance functions, :math:`\mathrm K = \mathrm K_0 + \mathrm K_1 + \cdots`.

    Parameters
    ----------
    covariances
        The terms :math:`\mathrm K_i`, all of the same shape. They are shared, not
        copied: changing a term changes the sum.

    Notes
    -----
    The parameters are those of the terms; the i-th term's key ``k`` becomes
    ``f"{name}[{i}].{k}"`` (``"SumCov[0].logscale"`` with the default name), and
    :math:`\partial\mathrm K/\partial\theta = \partial\mathrm K_i/\partial\theta` for a
    parameter :math:`\theta` of the i-th term.
    """

    def __init__(self, covariances: Sequence[Covariance]) -> None:
        covariances = list(covariances)
        if not covariances:
            raise InputError("covariances must hold at least one covariance function.")
        shapes = {c.shape for c in covariances}
        if len(shapes) > 1:
            raise InputError(f"covariances must all have the same shape; got {sorted(shapes)}.")
        self._covariances = covariances
        super().__init__("SumCov")

    @property
    def shape(self) -> tuple[int, int]:
        return self._covariances[0].shape

    def parameters(self) -> dict[str, Parameter]:
        params: dict[str, Parameter] = {}
        for i, cov in enumerate(self._covariances):
            params.update(prefixed(f"{self.name}[{i}]", cov.parameters()))
        return params

    def value(self) -> np.ndarray:
        r""":math:`\mathrm K_0 + \mathrm K_1 + \cdots`."""
        return np.add.reduce([cov.value() for cov in self._covariances])

    def gradient(self) -> dict[str, np.ndarray]:
        """The terms' derivatives, under prefixed keys."""
        grad: dict[str, np.ndarray] = {}
        for i, cov in enumerate(self._covariances):
            grad.update(prefixed(f"{self.name}[{i}]", cov.gradient()))
        return grad

    def _arguments(self) -> str:
        return "covariances=..."

    def _children(self) -> list[Parametric]:
        return list(self._covariances)
