r"""GWAS from files: heritability, and association scans with leave-one-chromosome-out kinships.

LOCO: when variant :math:`g` on chromosome :math:`c` is tested, the kinship is built from
the other chromosomes only, so that :math:`g` (and the variants in linkage with it) is not
also part of the random effect — which would absorb part of its signal ("proximal
contamination") and deflate its test.

:func:`scan_files` is the job behind ``kinmix scan``: it aligns the samples of the genotype
file, the phenotype and covariate tables and the kinship by ID, reads the genotype file once
for the kinship (:class:`kinmix.grm.StreamedKinship`), then per chromosome eigendecomposes
:math:`K_{-c}` once (shared by every trait with the same observed samples), fits the null
models and scans the chromosome's variants block by block with :func:`kinmix.scan`.
"""

from __future__ import annotations

from .files import loco_scan, scan_files
from .heritability import H2Estimate, estimate_h2, gemma_pve, model_from_qs
from .options import BLOCK_ENTRIES, JOINT_TESTS, NULLS, TESTS, TRAIT_TYPES, FileScan, ScanOptions

__all__ = [
    "BLOCK_ENTRIES",
    "JOINT_TESTS",
    "NULLS",
    "TESTS",
    "TRAIT_TYPES",
    "FileScan",
    "H2Estimate",
    "ScanOptions",
    "estimate_h2",
    "gemma_pve",
    "loco_scan",
    "model_from_qs",
    "scan_files",
]
