"""Sphinx configuration of the kinmix documentation.

Build locally with ``make docs`` (HTML in ``docs/_build/html``). Every code example is a
doctest, run by ``make docs`` through the ``doctest`` builder, so the printed numbers on
the site are checked on each build.
"""

from __future__ import annotations

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
