"""The fixed mmap threshold returns a freed block of variants to the system at once."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

#: Allocates, touches and frees a 16 MiB block twice (glibc's adaptive threshold moves the
#: second one onto the heap), then prints the resident MiB freed blocks still hold.
PROGRAM = """
import sys
from kinmix._malloc import fix_mmap_threshold
if sys.argv[1] == "fixed":
    assert fix_mmap_threshold()
def resident():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
before = resident()
for _ in range(2):
    block = bytearray(16 * 2**20)
    block[::4096] = b"x" * len(block[::4096])
    del block
print(resident() - before)
"""

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def _left_resident(mode: str) -> float:
    run = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True
    )
    return float(run.stdout)


@pytest.mark.skipif(not GLIBC, reason="glibc's allocator only")
def test_fixed_threshold__freed_blocks_leave_the_resident_set():
    assert _left_resident("adaptive") > 12  # the case the setting is for: 16 MiB stays
    assert _left_resident("fixed") < 4
