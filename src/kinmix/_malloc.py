"""Keep the memory of large freed arrays out of the process (glibc's allocator).

glibc serves a request of at least its *mmap threshold* with a memory map of its own, which
it unmaps when the block is freed. The threshold adapts: each time such a block is freed,
the threshold rises to its size (up to 32 MiB), so that later blocks of that size are
carved from the heap instead — and freed heap space stays resident until the top of the
heap is free. A scan allocates and frees blocks of variants of a few MiB over and over:
with the adaptive threshold, about one n×n matrix more stayed resident at the peak of a
2,000-sample LOCO scan (31 MiB; ``benchmarks/workflow.py`` measures it). Fixing the
threshold turns the adaptation off.
"""

from __future__ import annotations

import ctypes
import sys

#: ``M_MMAP_THRESHOLD``, the ``mallopt`` parameter (glibc's malloc.h).
M_MMAP_THRESHOLD = -3

#: Requests of at least this many bytes get their own memory map, returned when freed.
MMAP_THRESHOLD = 1 << 20


def fix_mmap_threshold(threshold: int = MMAP_THRESHOLD) -> bool:
    """Set glibc's mmap threshold to ``threshold`` bytes for the rest of the process.

    For the ``kinmix`` command, not for a library import: the setting is the process's.
    Returns whether it took effect: False off Linux or where ``mallopt`` ignores it.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, int(threshold)))


def release_arrow_memory() -> None:
    """Give back to the system the memory that Arrow's allocator keeps for reuse.

    Arrow's default pool (mimalloc or jemalloc) holds freed pages for later requests, so
    a dropped table (the variants of a genotype file: m rows of Arrow-backed strings)
    stays resident, and so does what the writers of the results freed. For the ``kinmix``
    command, once those are dropped; pyarrow must be installed (the writers need it).
    """
    import pyarrow

    pyarrow.default_memory_pool().release_unused()
