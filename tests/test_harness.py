"""The test harness itself: missing reference data fails under CI, skips elsewhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _run_reference_test(tmp_path: Path, ci: str) -> subprocess.CompletedProcess:
    env = {"KINMIX_SHARED": str(tmp_path / "absent"), "CI": ci, "PATH": ""}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            str(TESTS / "test_gp.py::test_gp__matches_glimix_reference"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=TESTS.parent,
    )


def test_missing_reference_data__fails_under_ci(tmp_path):
    run = _run_reference_test(tmp_path, "true")
    assert run.returncode == 1, run.stdout
    assert "reference data not found" in run.stdout and "1 error" in run.stdout


def test_missing_reference_data__skips_outside_ci(tmp_path):
    run = _run_reference_test(tmp_path, "")
    assert run.returncode == 0, run.stdout
    assert "1 skipped" in run.stdout
