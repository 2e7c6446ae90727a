"""kinmix: mixed models for statistical genetics.

Heritability, generalised linear mixed models and association scans whose only
superlinear step is the rotation of genotypes by the kinship eigenvectors.

The most used names are re-exported here: the models (:class:`LMM`,
:class:`LinearMixedModel`, :class:`FastScanner`, :class:`GLMMExpFam`, :class:`GLMMNormal`,
:class:`GP`, :class:`ExpFamGP`), the decompositions
(:func:`economic_qs`, :func:`economic_qs_linear`) and the workflow functions
(:func:`scan`, :func:`estimate_h2`, :func:`grm`). Only numpy, scipy and pandas are needed
to import kinmix; Dask, Zarr, bed-reader and matplotlib are loaded when used.

``import kinmix`` loads the version, the errors and :func:`grm`; every other re-exported
name is imported from its module on first use (``kinmix.GLMMExpFam`` loads the GLMM and
EP modules then), so that a command or script pays only for the models it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    BoundaryWarning,
    ConvergenceWarning,
    FitError,
    InputError,
    KinmixError,
    KinmixWarning,
)

# eager: the function shares its name with the module kinmix.grm, which a later import of
# that module would otherwise leave as the package attribute instead of the function
from .grm import grm

if TYPE_CHECKING:  # the names resolved by __getattr__, for type checkers and IDEs
    from .glmm import GLMMExpFam, GLMMNormal
    from .gp import GP, ExpFamGP
    from .gwas import scan
    from .linalg import economic_qs, economic_qs_linear
    from .lmm import LMM, FastScanner, Kron2Sum, LinearMixedModel
    from .workflow import estimate_h2

#: Re-exported name -> the module it is imported from on first use.
_LAZY = {
    "GLMMExpFam": "glmm",
    "GLMMNormal": "glmm",
    "GP": "gp",
    "ExpFamGP": "gp",
    "scan": "gwas",
    "economic_qs": "linalg",
    "economic_qs_linear": "linalg",
    "LMM": "lmm",
    "FastScanner": "lmm",
    "Kron2Sum": "lmm",
    "LinearMixedModel": "lmm",
    "estimate_h2": "workflow",
}

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
