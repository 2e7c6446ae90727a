"""Kill-test harness: run a command in a subprocess, let it SIGKILL itself at a chosen
point (the ``KINMIX_TEST_KILL_AT`` hook of :mod:`kinmix._killpoints`), then run it again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def run(
    argv: Sequence[str],
    *,
    kill_at: str | None = None,
    marker: Path | None = None,
    cwd: Path | None = None,
):
    """Run ``argv`` with the kill hook set to ``kill_at`` (e.g. ``"block:3"``) or unset;
    with ``marker``, only the first process to get there dies (see kinmix._killpoints)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINMIX_TEST_")}
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = "1"  # same bits every run
    if kill_at is not None:
        env["KINMIX_TEST_KILL_AT"] = kill_at
    if marker is not None:
        env["KINMIX_TEST_KILL_MARKER"] = str(marker)
    return subprocess.run(
        list(argv), env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def run_killed(argv: Sequence[str], kill_at: str, *, cwd: Path | None = None):
    """Run ``argv`` and check that it died of SIGKILL at ``kill_at``."""
    out = run(argv, kill_at=kill_at, cwd=cwd)
    assert out.returncode == -signal.SIGKILL, (out.returncode, out.stderr[-2000:])
    return out


def run_ok(argv: Sequence[str], *, cwd: Path | None = None):
    """Run ``argv`` and check that it succeeded."""
    out = run(argv, cwd=cwd)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def python(code: str, *args: str) -> list[str]:
    """The argv of ``python -c code args``."""
    return [sys.executable, "-c", code, *args]
