"""Genome-wide association scans: the chunked driver :func:`scan` over the association
kernel (:mod:`kinmix.kernel.association`); its Dask path runs on :mod:`kinmix.distributed`.
:func:`prepare_scan` fits a null state once for many blocks. :class:`ResumableRun` keeps
the finished steps of a checkpointed scan."""

from ._driver import PreparedScan, prepare_scan, prepare_whitened_scan, scan
from ._loco import loco_scan
from ._resume import ResumableRun, fingerprint_array

__all__ = [
    "PreparedScan",
    "ResumableRun",
    "fingerprint_array",
    "loco_scan",
    "prepare_scan",
    "prepare_whitened_scan",
    "scan",
]
