r"""Mean functions :math:`\mathbf m(\boldsymbol\theta)` for Gaussian-process models.

Each has ``value()`` (the n-vector), ``gradient()`` (derivatives over the free
parameters, by key), a settable ``name`` and the seed's printout. :class:`Mean` is their
common base.
"""

from ._base import Mean
from ._kron import KronMean
from ._linear import LinearMean
from ._offset import OffsetMean
from ._sum import SumMean

__all__ = ["KronMean", "LinearMean", "Mean", "OffsetMean", "SumMean"]
