"""Sphinx configuration of the kinmix documentation.

Build locally with ``make docs`` (HTML in ``docs/_build/html``). Every code example is a
doctest, run by ``make docs`` through the ``doctest`` builder, so the printed numbers on
the site are checked on each build.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import kinmix

project = "kinmix"
author = "kinmix developers"
copyright = "2026, kinmix developers"
release = kinmix.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# No network at build time: intersphinx inventories are not fetched.
intersphinx_mapping: dict = {}

doctest_global_setup = """
import numpy as np
np.set_printoptions(precision=4, suppress=True)
"""

html_theme = "pydata_sphinx_theme"
html_title = "kinmix"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_show_sourcelink = False

templates_path = ["_templates"]  # class pages list and document every member

# Every reference to kinmix's public API must resolve: a link to a page or an object that
# does not exist fails -W. Docstrings may also name private helpers (kinmix.kernel, a
# leading underscore) and members by their short names; those are not pages of this site.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!kinmix\.).*"),
    (r"py:.*", r"kinmix\.(ep|kernel|gwas)(\..*)?"),
    (r"py:.*", r"kinmix(\.\w+)*\._\w+(\..*)?"),
    (
        r"py:.*",
        r"kinmix\.matfree\.(cg|reml|association|operator|pipeline|arrays_scan|heritability|gls)"
        r"(\..*)?",
    ),
]
# The link check (tests/test_docs.py) has no network: external addresses are not fetched.
linkcheck_ignore = [r"https?://.*"]

# Figures made from the bundled data on each HTML build, never committed (docs/.gitignore).
GENERATED = Path(__file__).parent / "tutorials" / "_generated"


def _make_figures(app) -> None:
    """Run ``kinmix demo`` (a LOCO scan of the bundled cohort) and keep its two plots."""
    if app.builder.name not in ("html", "dirhtml", "singlehtml"):
        # Other builders (doctest, linkcheck) never read the images.
        app.config.suppress_warnings = [*app.config.suppress_warnings, "image.not_readable"]
        return
    from kinmix.cli import main

    GENERATED.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        if main(["demo", "--out", folder, "--quiet"]) != 0:
            raise RuntimeError("kinmix demo failed while building the documentation")
        for name in ("manhattan.png", "qq.png"):
            shutil.copyfile(Path(folder) / name, GENERATED / name)


def setup(app) -> None:
    app.connect("builder-inited", _make_figures)
