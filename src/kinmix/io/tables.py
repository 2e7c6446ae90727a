"""Phenotype and covariate tables keyed by sample ID, and their alignment to genotypes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError


def read_sample_table(path: str | Path, *, name: str = "table") -> pd.DataFrame:
    """Read a PLINK-style table: whitespace-separated ``FID IID value...``, no header.

    Returns a DataFrame indexed by IID with one float column per value column
    (``name_1``, ``name_2``, ...). ``-9``, ``NA`` and ``nan`` are missing.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{name} file {path} does not exist.")
    try:
        table = pd.read_csv(
            path, sep=r"\s+", header=None, dtype={0: str, 1: str}, na_values=["-9", "NA", "nan"]
        )
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{name} file {path} could not be parsed: {exc}") from exc
    if table.shape[1] < 3:
        raise InputError(f"{name} file {path} needs FID, IID and at least one value column.")
    values = table.iloc[:, 2:].apply(pd.to_numeric, errors="coerce")
    values.columns = [f"{name}_{i + 1}" for i in range(values.shape[1])]
    values.index = pd.Index(table.iloc[:, 1].astype(str), name="iid")
    if values.index.has_duplicates:
        duplicated = values.index[values.index.duplicated()].unique()[:5].tolist()
        raise InputError(f"{name} file {path} repeats sample IDs, e.g. {duplicated}.")
    return values


def align_samples(
    samples: Sequence[str], table: pd.DataFrame, *, name: str = "table"
) -> np.ndarray:
    """Rows of ``table`` (indexed by sample ID) in the order of ``samples``.

    Raises if any sample is absent from the table or has a missing value, naming a few.
    """
    samples = pd.Index(np.asarray(samples, dtype=str))
    missing = samples.difference(table.index)
    if len(missing):
        raise InputError(
            f"{name} has no row for {len(missing)} of the {len(samples)} samples, "
            f"e.g. {missing[:5].tolist()}: sample IDs must match the genotypes' IIDs."
        )
    values = table.loc[samples].to_numpy(dtype=float)
    incomplete = samples[np.isnan(values).any(axis=1)]
    if len(incomplete):
        raise InputError(
            f"{name} has missing values for {len(incomplete)} samples, e.g. "
            f"{incomplete[:5].tolist()}: drop those samples first."
        )
    return values
