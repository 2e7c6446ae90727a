"""The fixed mmap threshold gives each freed block of variants back to the system at once."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

#: Allocates and frees a 16 MiB block twice, then prints whether the second one was
#: carved from the heap (glibc's adaptive threshold, raised by the first free, puts it
#: there: freed, it stays resident) or got a memory map of its own (unmapped when freed).
PROGRAM = """
import ctypes, sys
from kinmix._malloc import fix_mmap_threshold
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
def on_heap(block):
    address = ctypes.addressof((ctypes.c_char * 1).from_buffer(block))
    for line in open("/proc/self/maps"):
        fields = line.split()
        low, high = (int(x, 16) for x in fields[0].split("-"))
        if low <= address < high:
            return fields[-1] == "[heap]"
    raise AssertionError("block not mapped")
for _ in range(2):
    block = bytearray(16 * 2**20)
    where = on_heap(block)
    del block
print(where)
"""

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def _second_block_on_heap(mode: str) -> bool:
    # Any malloc setting from the environment turns glibc's adaptation off, and
    # dask.distributed's nanny puts MALLOC_TRIM_THRESHOLD_ into this process's environment
    # once a test has started a cluster: the child gets the allocator's defaults.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MALLOC_") and key != "GLIBC_TUNABLES"
    }
    run = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True,
        env=env,
    )
    return run.stdout.strip() == "True"


@pytest.mark.skipif(not GLIBC, reason="glibc's allocator only")
def test_fixed_threshold__a_freed_block_is_mapped_not_left_on_the_heap():
    assert _second_block_on_heap("adaptive")  # the case the setting is for
    assert not _second_block_on_heap("fixed")


#: Builds about 40 MiB of Arrow strings in small pieces, drops them, then prints the
#: resident memory (MiB) before and after release_arrow_memory.
ARROW_PROGRAM = """
import pyarrow as pa
from kinmix._malloc import release_arrow_memory
def resident():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
names = pa.array([f"variant{i}" for i in range(1_000_000)])
pieces = [pa.concat_arrays([names.slice(i, 1000) for i in range(0, 1_000_000, 1000)])
          for _ in range(2)]
held = pa.total_allocated_bytes() / 2**20
del names, pieces
before = resident()
release_arrow_memory()
print(held, before, resident())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_release_arrow_memory__a_dropped_tables_pages_leave_the_resident_set():
    run = subprocess.run([sys.executable, "-c", ARROW_PROGRAM], capture_output=True,
                         text=True, check=True)
    held, before, after = map(float, run.stdout.split())
    assert held > 30
    assert before - after > held / 2  # most of what the tables held is given back
