"""Linear mixed models: limix's :class:`LMM` and :class:`FastScanner`, Hail's
:class:`LinearMixedModel`, all on one kernel (:mod:`kinmix.lmm._kernel`)."""

from ._hail import LinearMixedModel
from ._kron2sum import Kron2Sum
from ._kron_scanner import KronFastScanner, joint_scan
from ._lmm import LMM
from ._scanner import FastScanner

__all__ = ["LMM", "FastScanner", "Kron2Sum", "KronFastScanner", "LinearMixedModel", "joint_scan"]
