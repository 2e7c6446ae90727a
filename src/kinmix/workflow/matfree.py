"""The ``--method cg`` route of a file scan: :func:`kinmix.matfree.matfree_scan` per trait.

``method="auto"`` takes this route when the kept samples number at least
``kinmix.constants.AUTO_CG_SAMPLES`` and the scan is one the matrix-free path computes
(continuous traits, the likelihood-ratio test at the null δ, LOCO kinships built from the
genotype file itself with the standardised GRM and no variant filter, no g×E, multi-trait
or exact tests); ``"cg"`` demands it and names what stands in the way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError
from ..matfree import AUTO_CG_SAMPLES, matfree_scan
from .options import ScanOptions


def cg_obstacles(options: ScanOptions, *, precomputed: bool, other_file: bool) -> list[str]:
    """What keeps a file scan from the matrix-free path (empty when nothing does)."""
    checks = [
        (options.trait_type != "continuous", "--trait-type other than continuous"),
        (options.test != "lrt", "--test other than lrt"),
        (options.refit_delta, "--refit-delta"),
        (options.interaction is not None, "--interaction"),
        (options.joint is not None, "--joint"),
        (not options.loco, "--no-loco"),
        (precomputed, "--grm"),
        (other_file, "--grm-bfile"),
        (options.grm_kind != "standardized", "--grm-kind other than standardized"),
        (options.maf > 0 or options.max_missing < 1, "--maf/--max-missing"),
    ]
    return [flag for failed, flag in checks if failed]


def use_cg(options: ScanOptions, n: int, *, precomputed: bool, other_file: bool) -> bool:
    """Whether the scan of ``n`` kept samples runs matrix-free (``options.method``)."""
    obstacles = cg_obstacles(options, precomputed=precomputed, other_file=other_file)
    if options.method == "cg" and obstacles:
        raise InputError(
            f"--method cg computes LOCO likelihood-ratio tests of continuous traits with the "
            f"standardised GRM of the genotype file; drop {', '.join(obstacles)}, or use "
            "--method exact."
        )
    if options.method == "auto":
        return not obstacles and n >= AUTO_CG_SAMPLES
    return options.method == "cg"


class SampleRows:
    """The rows ``rows`` of a genotype file, read as :func:`matfree_scan` reads files."""

    def __init__(self, genotypes: Any, rows: np.ndarray) -> None:
        self._genotypes, self._rows = genotypes, np.asarray(rows)
        self.variants = genotypes.variants
        self.shape = (self._rows.size, genotypes.shape[1])

    def read(self, variants: Any) -> np.ndarray:
        return self._genotypes.read(variants, samples=self._rows)


def scan_cg(
    genotypes: Any, rows: np.ndarray, Y: np.ndarray, X: np.ndarray, groups: list,
    chrom: np.ndarray,
) -> tuple[list[pd.DataFrame], pd.DataFrame, dict]:
    """Per-trait tables (``_index, trait`` first), the heritability table, the CG details.

    ``groups`` are :class:`~kinmix.workflow.groups.TraitGroup` (traits sharing a pattern
    of missing values); each trait gets its own encoding of its samples' genotypes and its
    own Monte-Carlo REML δ per left-out chromosome (``h2_se`` is NaN: the Monte-Carlo root
    has no standard error per LOCO kinship).
    """
    tables, heritability, details = [], [], {}
    for group in groups:
        for name, j in zip(group.traits, group.columns, strict=True):
            source = SampleRows(genotypes, rows[group.rows])
            table = matfree_scan(source, Y[group.rows, j], X[group.rows], chromosomes=chrom)
            info = table.attrs["matfree"]
            details[str(name)] = info
            table = table.drop(columns=[c for c in ("chrom", "pos", "variant", "a1", "a2")
                                        if c in table.columns])
            table.insert(0, "_index", np.arange(len(table)))
            table.insert(1, "trait", name)
            tables.append(table)
            heritability.append(pd.DataFrame({
                "trait": name,
                "chrom": [str(c) for c in info["delta"]],
                "h2": [1.0 - d for d in info["delta"].values()],
                "h2_se": np.nan,
                "delta": list(info["delta"].values()),
                "n": len(group.rows),
            }))
    return tables, pd.concat(heritability, ignore_index=True), details
