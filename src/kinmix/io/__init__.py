"""Readers and writers of genetic data.

Submodules are imported on first use, so ``import kinmix.io`` needs neither Dask nor Zarr:

- :mod:`kinmix.io.blockmatrix`: 2-D arrays stored as Zarr (Hail's ``BlockMatrix.write``
  with ``force_row_major=True``), and :func:`~kinmix.io.blockmatrix.fit_alternatives_dask`.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("blockmatrix",)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES])
