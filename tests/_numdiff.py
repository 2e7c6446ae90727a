"""Central finite differences over a parameter's free (unconstrained) coordinates."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def free_gradient(parameter, function: Callable[[], object], step: float = 1e-6) -> np.ndarray:
    """∂function/∂(free coordinates of ``parameter``), the coordinate on the last axis.

    The parameter is moved by ±``step`` along each coordinate and put back afterwards.
    """
    start = parameter.free
    columns = []
    for j in range(start.size):
        shift = np.zeros_like(start)
        shift[j] = step
        parameter.free = start + shift
        upper = np.asarray(function(), dtype=float)
        parameter.free = start - shift
        lower = np.asarray(function(), dtype=float)
        columns.append((upper - lower) / (2 * step))
    parameter.free = start
    return np.stack(columns, axis=-1)
