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


def peak_resident_gib() -> float:
    """This process's own peak resident memory in GiB (``VmHWM`` of /proc/self/status).

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: on Linux a process started by fork and exec
    (a ``spawn`` worker, a subprocess) keeps the high-water mark of the address space it
    replaced at exec, which is a copy of its parent's, so a child's ``ru_maxrss`` is at
    least its parent's peak at the time of the fork. ``VmHWM`` belongs to the current
    address space alone.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20  # kB
    raise RuntimeError("no VmHWM line in /proc/self/status (not Linux?)")
