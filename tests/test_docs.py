"""The documentation site builds without warnings and every example on it runs.

``sphinx-build -W`` turns every warning (a broken cross-reference or link between pages, a
bad docstring, a missing page) into a failure; the ``doctest`` builder runs each example and
compares its printed output.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"

pytest.importorskip("sphinx", reason="install the docs extra: pip install '.[docs]'")


@pytest.mark.slow
@pytest.mark.parametrize("builder", ["html", "doctest"])
def test_docs__build_without_warnings(builder: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder]
    command += ["-d", str(tmp_path / "doctrees"), str(DOCS), str(tmp_path / builder)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
