"""Genome-wide association scans: the chunked driver :func:`scan` over the scan kernel."""

from ._driver import scan

__all__ = ["scan"]
