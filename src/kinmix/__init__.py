"""kinmix: mixed models for statistical genetics.

Heritability, generalised linear mixed models and association scans whose only
superlinear step is the rotation of genotypes by the kinship eigenvectors.

The most used names are re-exported here: the models (:class:`LMM`,
:class:`LinearMixedModel`, :class:`FastScanner`, :class:`GLMMExpFam`, :class:`GLMMNormal`,
:class:`GP`, :class:`ExpFamGP`), the decompositions
(:func:`economic_qs`, :func:`economic_qs_linear`) and the workflow functions
(:func:`scan`, :func:`estimate_h2`, :func:`grm`). Only numpy, scipy and pandas are needed
to import kinmix; Dask, Zarr, bed-reader and matplotlib are loaded when used.
"""

from __future__ import annotations

from ._version import __version__
from .errors import (
    BoundaryWarning,
    ConvergenceWarning,
    FitError,
    InputError,
    KinmixError,
    KinmixWarning,
)
from .glmm import GLMMExpFam, GLMMNormal
from .gp import GP, ExpFamGP
from .grm import grm
from .gwas import scan
from .linalg import economic_qs, economic_qs_linear
from .lmm import LMM, FastScanner, Kron2Sum, LinearMixedModel
from .workflow import estimate_h2

__all__ = [
    "GP",
    "LMM",
    "BoundaryWarning",
    "ConvergenceWarning",
    "ExpFamGP",
    "FastScanner",
    "FitError",
    "GLMMExpFam",
    "GLMMNormal",
    "InputError",
    "KinmixError",
    "KinmixWarning",
    "Kron2Sum",
    "LinearMixedModel",
    "__version__",
    "economic_qs",
    "economic_qs_linear",
    "estimate_h2",
    "grm",
    "scan",
]
