"""Linear mixed models: limix's :class:`LMM`, :class:`FastScanner` and the multi-trait
:class:`Kron2Sum` with its :class:`KronFastScanner`, and Hail's :class:`LinearMixedModel`;
the single-trait models share one kernel (:mod:`kinmix.kernel`)."""

from ._fast_scanner import FastScanner
from ._kron2sum import Kron2Sum
from ._kron_scanner import KronFastScanner, joint_null, joint_scan, joint_table
from ._linear_mixed_model import LinearMixedModel
from ._lmm import LMM

__all__ = [
    "LMM",
    "FastScanner",
    "Kron2Sum",
    "KronFastScanner",
    "LinearMixedModel",
    "joint_null",
    "joint_scan",
    "joint_table",
]
