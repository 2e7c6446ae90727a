"""Give the memory freed by large temporaries back to the operating system."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _trim():
    """glibc's ``malloc_trim``, or None elsewhere."""
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


def release_free_memory() -> None:
    """Return the heap's free pages to the system (glibc ``malloc_trim(0)``; a no-op on
    other C libraries).

    Blocks of a few MiB freed by a long pass stay in glibc's heap (its mmap threshold
    rises to the size of the largest block freed), where they count in the resident size
    until reused; trimming before an n×n step keeps the peak to what is live.
    """
    trim = _trim()
    if trim is not None:
        trim(0)
