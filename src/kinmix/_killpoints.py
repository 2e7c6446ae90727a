"""A test hook: kill this process at a chosen point of a run, to test that runs resume.

Set ``KINMIX_TEST_KILL_AT=<step>:<count>`` and the process sends itself SIGKILL when it
reaches ``step`` for the ``count``-th time, or any time after. Steps are named where
:func:`reached` is called: ``kinship`` after each block of the kinship pass, ``null`` when
a chromosome's null state is stored, ``block`` when a block's results are handed to the
checkpoint store (committed, or waiting in memory for the next batch commit),
``task`` when a worker task has computed a block, ``write`` while the final results are
written. With ``KINMIX_TEST_KILL_MARKER=<path>`` as well, only
the first process to get there dies (it creates the file first), so a worker restarted by
Dask does not die again; while the file exists, nobody dies. Unset, :func:`reached` only
looks up the variable. Not meant for anything but tests.
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def reached(step: str) -> None:
    """Count one more arrival at ``step``; die here if the test hook asks for it."""
    target = os.environ.get("KINMIX_TEST_KILL_AT")
    if not target:
        return
    name, _, count = target.partition(":")
    if name != step:
        return
    _counts[step] = _counts.get(step, 0) + 1
    if _counts[step] < int(count or 1):
        return
    marker = os.environ.get("KINMIX_TEST_KILL_MARKER")
    if marker:
        try:
            with open(marker, "x"):
                pass
        except FileExistsError:
            return
    os.kill(os.getpid(), signal.SIGKILL)
