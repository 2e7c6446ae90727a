"""The documentation site builds without warnings, every example on it runs, links resolve.

``sphinx-build -W`` turns every warning (a broken cross-reference or link between pages, a
bad docstring, a missing page) into a failure; ``nitpicky = True`` in ``docs/conf.py``
makes every unresolved reference a warning. The ``doctest`` builder runs each example and
compares its printed output; the ``linkcheck`` builder checks the links between pages
(external addresses are ignored: CI has no network).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"

pytest.importorskip("sphinx", reason="install the docs extra: pip install '.[docs]'")


def _build(builder: str, source: Path, out: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder]
    command += ["-d", str(out / "doctrees"), str(source), str(out / builder)]
    return subprocess.run(command, capture_output=True, text=True)


@pytest.mark.slow
@pytest.mark.parametrize("builder", ["html", "doctest", "linkcheck"])
def test_docs__build_without_warnings(builder: str, tmp_path: Path) -> None:
    done = _build(builder, DOCS, tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]


@pytest.mark.slow
def test_docs__broken_internal_link_fails_the_build(tmp_path: Path) -> None:
    source = tmp_path / "docs"
    shutil.copytree(DOCS, source, ignore=shutil.ignore_patterns("_build", "generated"))
    page = source / "install.md"
    page.write_text(page.read_text() + "\nSee {doc}`no-such-page` and {func}`kinmix.nothing`.\n")
    done = _build("dummy", source, tmp_path)
    assert done.returncode != 0
    assert "unknown document" in done.stderr and "kinmix.nothing" in done.stderr
