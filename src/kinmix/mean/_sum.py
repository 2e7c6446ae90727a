r"""Sum of mean functions, :math:`\mathbf m = \mathbf f_0 + \mathbf f_1 + \cdots`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from ..params import Parameter, Parametric, prefixed
from ._base import Mean


class SumMean(Mean):
    r"""Sum of mean functions, :math:`\mathbf m = \mathbf f_0 + \mathbf f_1 + \cdots`.

    Parameters
    ----------
    means
        The terms :math:`\mathbf f_i`, all of the same length. They are shared, not
        copied.

    Notes
    -----
    The i-th term's key ``k`` becomes ``f"{name}[{i}].{k}"`` (``"SumMean[0].effsizes"``
    with the default name); the derivative over a parameter of the i-th term is that
    term's derivative.
    """

    def __init__(self, means: Sequence[Mean]) -> None:
        means = list(means)
        if not means:
            raise InputError("means must hold at least one mean function.")
        sizes = {m.size for m in means}
        if len(sizes) > 1:
            raise InputError(f"means must all have the same length; got {sorted(sizes)}.")
        self._means = means
        super().__init__("SumMean")

    @property
    def size(self) -> int:
        return self._means[0].size

    def parameters(self) -> dict[str, Parameter]:
        params: dict[str, Parameter] = {}
        for i, mean in enumerate(self._means):
            params.update(prefixed(f"{self.name}[{i}]", mean.parameters()))
        return params

    def value(self) -> np.ndarray:
        r""":math:`\mathbf f_0 + \mathbf f_1 + \cdots`."""
        return np.add.reduce([mean.value() for mean in self._means])

    def gradient(self) -> dict[str, np.ndarray]:
        """The terms' derivatives, under prefixed keys."""
        grad: dict[str, np.ndarray] = {}
        for i, mean in enumerate(self._means):
            grad.update(prefixed(f"{self.name}[{i}]", mean.gradient()))
        return grad

    def _arguments(self) -> str:
        return "means=..."

    def _children(self) -> list[Parametric]:
        return list(self._means)
