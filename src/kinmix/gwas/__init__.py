"""Genome-wide association scans: the chunked driver :func:`scan` over the association
kernel (:mod:`kinmix.kernel.association`); its Dask path runs on :mod:`kinmix.distributed`.
:class:`ResumableRun` keeps the finished steps of a checkpointed scan."""

from ._driver import scan
from ._loco import loco_scan
from ._resume import ResumableRun, fingerprint_array

__all__ = ["ResumableRun", "fingerprint_array", "loco_scan", "scan"]
