"""The kinship of the aligned samples: a cut of a kinship file, or the rows of the aligned
samples in the genotype file the kinship is built from (shared by ``kinmix scan`` and
``kinmix h2``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def kinship_on_samples(kinship: Any, ids: pd.Index) -> np.ndarray:
    """The matrix of a kinship file (:func:`kinmix.io.kinship.read_kinship`) on the samples
    ``ids``, in their order (a new n×n array; alignment put every ID in the file)."""
    positions = pd.Index(kinship.ids).get_indexer(ids)
    return np.asarray(kinship.matrix)[np.ix_(positions, positions)]


def kinship_rows(
    genotypes: Any, kinship_genotypes: Any | None, ids: pd.Index, rows: np.ndarray
) -> tuple[Any, np.ndarray]:
    """The genotypes the kinship is built from (``kinship_genotypes``, e.g. a pruned file,
    else ``genotypes``) and the rows of the samples ``ids`` in them (``rows`` are theirs in
    ``genotypes``)."""
    if kinship_genotypes is None:
        return genotypes, rows
    positions = pd.Index(kinship_genotypes.samples["iid"].astype(str)).get_indexer(ids)
    return kinship_genotypes, positions
