"""Linear mixed models: limix's :class:`LMM` and :class:`FastScanner`, Hail's
:class:`LinearMixedModel`, all on one kernel (:mod:`kinmix.kernel`)."""

from ._fast_scanner import FastScanner
from ._linear_mixed_model import LinearMixedModel
from ._lmm import LMM

__all__ = ["LMM", "FastScanner", "LinearMixedModel"]
