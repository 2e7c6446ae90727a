"""kinmix: mixed models for statistical genetics.

Heritability, generalised linear mixed models and association scans whose only
superlinear step is the rotation of genotypes by the kinship eigenvectors.
"""

from __future__ import annotations

from .errors import (
    BoundaryWarning,
    ConvergenceWarning,
    FitError,
    InputError,
    KinmixError,
    KinmixWarning,
)
from .linalg import economic_qs, economic_qs_linear

__version__ = "0.1.0"

__all__ = [
    "BoundaryWarning",
    "ConvergenceWarning",
    "FitError",
    "InputError",
    "KinmixError",
    "KinmixWarning",
    "__version__",
    "economic_qs",
    "economic_qs_linear",
]
