"""Genome-wide association scans: the chunked driver :func:`scan` over the association
kernel (:mod:`kinmix.kernel.association`); its Dask path runs on :mod:`kinmix.distributed`."""

from ._driver import scan
from ._loco import loco_scan

__all__ = ["loco_scan", "scan"]
