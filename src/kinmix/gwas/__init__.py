"""Genome-wide association scans: the chunked driver :func:`scan` over the association
kernel (:mod:`kinmix.kernel.association`); its Dask path runs on :mod:`kinmix.distributed`."""

from ._driver import scan

__all__ = ["scan"]
