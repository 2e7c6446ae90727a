"""Timing shared by the benchmark scripts (run as ``python benchmarks/<script>.py``, which
puts this folder on ``sys.path``)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def best_time(function: Callable[[], object], repeat: int) -> float:
    """The shortest wall-clock time, in seconds, of ``repeat`` calls of ``function()``."""
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best
