r"""Covariance functions :math:`\mathrm K(\boldsymbol\theta)` for Gaussian-process models.

Each has ``value()`` (the :math:`n\times n` matrix), ``gradient()`` (derivatives over
the free parameters, by key), a settable ``name``, ``fix``/``unfix``, ``listen`` and
the seed's printout. :class:`Covariance` is their common base.
"""

from ._base import Covariance
from ._eye import EyeCov
from ._free import FreeFormCov
from ._given import GivenCov
from ._kron2sum import Kron2SumCov
from ._linear import LinearCov
from ._lrfree import LRFreeFormCov
from ._sum import SumCov

__all__ = [
    "Covariance",
    "EyeCov",
    "FreeFormCov",
    "GivenCov",
    "Kron2SumCov",
    "LRFreeFormCov",
    "LinearCov",
    "SumCov",
]
