"""Readers and writers of genetic data.

Submodules and their main functions are imported on first use, so ``import kinmix.io``
needs neither bed-reader, cbgen, pgenlib, Dask nor Zarr:

- :mod:`kinmix.io.genotypes`: :func:`open_genotypes` (PLINK 1, BGEN, PLINK 2) and the
  :class:`~kinmix.io.genotypes.Genotypes` protocol of block reads;
- :mod:`kinmix.io.plink`: :func:`read_plink` (PLINK 1 .bed/.bim/.fam, via bed-reader);
- :mod:`kinmix.io.bgen`: :func:`read_bgen` (BGEN 1.2/1.3, via cbgen);
- :mod:`kinmix.io.pgen`: :func:`read_pgen` (PLINK 2 .pgen/.pvar/.psam, via pgenlib);
- :mod:`kinmix.io.tables`: :func:`read_sample_table`, :func:`align_samples`,
  :func:`covariate_matrix`;
- :mod:`kinmix.io.kinship`: :func:`read_kinship`, :func:`write_kinship` (GCTA binary GRM
  and kinmix's ``.npz``);
- :mod:`kinmix.io.blockmatrix`: :func:`write_block_matrix`, :func:`read_block_matrix`
  (Zarr, Hail's ``BlockMatrix.write`` with ``force_row_major=True``).

Computations over what is read live elsewhere (:mod:`kinmix.distributed`).
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("bgen", "blockmatrix", "genotypes", "kinship", "pgen", "plink", "tables")
_FUNCTIONS = {
    "open_genotypes": "genotypes",
    "read_plink": "plink",
    "read_bgen": "bgen",
    "read_pgen": "pgen",
    "read_sample_table": "tables",
    "align_samples": "tables",
    "covariate_matrix": "tables",
    "read_kinship": "kinship",
    "write_kinship": "kinship",
    "read_block_matrix": "blockmatrix",
    "write_block_matrix": "blockmatrix",
}

__all__ = sorted(_FUNCTIONS)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f"{__name__}.{_FUNCTIONS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES, *_FUNCTIONS])
