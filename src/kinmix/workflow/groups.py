"""Traits grouped by the samples that observe them, and the per-sample inputs of a scan
(interaction column, binomial trials, conditioning dosages)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._validate import check_not_fitted_exactly, check_samples
from ..errors import InputError
from ..impute import mean_impute


@dataclass(frozen=True)
class TraitGroup:
    """Traits observed on the same samples: their names, their columns of Y, and ``rows``,
    the aligned samples that observe them, in increasing order."""

    traits: list[str]
    columns: list[int]
    rows: np.ndarray


def group_by_missingness(Y: np.ndarray, traits: list[str]) -> list[TraitGroup]:
    """Traits grouped by their set of observed samples (empty traits dropped)."""
    patterns: dict[bytes, list[int]] = {}
    observed = np.isfinite(Y)
    for j in range(Y.shape[1]):
        if observed[:, j].any():
            patterns.setdefault(observed[:, j].tobytes(), []).append(j)
    return [
        TraitGroup([traits[j] for j in columns], columns, np.flatnonzero(observed[:, columns[0]]))
        for columns in patterns.values()
    ]


def check_groups(groups: list[TraitGroup], Y: np.ndarray, X: np.ndarray) -> None:
    """Refuse, naming the phenotype, a trait with too few samples for the covariates or one
    that the covariates fit exactly (a constant trait): no variance can be estimated."""
    for group in groups:
        Xg = X[group.rows]
        for trait, j in zip(group.traits, group.columns, strict=True):
            name = f"phenotype {trait!r}"
            rows = len(group.rows)
            check_samples(rows, Xg.shape[1], name, tested=1, purpose=" to test a variant")
            check_not_fitted_exactly(Y[group.rows, j], Xg, name)


def joint_group(Y: np.ndarray, traits: list[str]) -> list[TraitGroup]:
    """All traits as one group, on the samples that observe every one of them."""
    if len(traits) < 2:
        raise InputError("the multi-trait test (--joint) needs at least two phenotypes.")
    rows = np.flatnonzero(np.isfinite(Y).all(axis=1))
    if rows.shape[0] <= len(traits) + 1:
        raise InputError(
            f"only {rows.shape[0]} samples observe all of {', '.join(traits)}: too few for "
            "the multi-trait test (--joint)."
        )
    return [TraitGroup(list(traits), list(range(len(traits))), rows)]


def interaction_column(cov: pd.DataFrame | None, name: str | None) -> pd.DataFrame | None:
    if name is None:
        return None
    if cov is None or name not in cov.columns:
        available = [] if cov is None else list(cov.columns)
        raise InputError(
            f"--interaction {name}: no covariate column of that name (covariates: "
            f"{', '.join(map(str, available)) or 'none given'}). Give it in --covar."
        )
    return cov[[name]].astype(float).reset_index(drop=True)


def trial_counts(values: pd.DataFrame, name: str | None) -> np.ndarray | None:
    if name is None:
        return None
    if name not in values.columns:
        raise InputError(
            f"--trials {name}: no phenotype column of that name (phenotypes: "
            f"{', '.join(map(str, values.columns))})."
        )
    return values[name].to_numpy(dtype=float)


def conditioning_dosages(genotypes: Any, names: Sequence[str], rows: np.ndarray) -> np.ndarray:
    """Mean-imputed dosages of the conditioning variants (samples × variants)."""
    ids = pd.Index(genotypes.variants["variant"].astype(str))
    positions = ids.get_indexer(list(names))
    if (positions < 0).any():
        missing = [v for v, p in zip(names, positions, strict=True) if p < 0]
        raise InputError(
            f"--condition: variant(s) {', '.join(missing)} not in {genotypes.path}; "
            "give IDs from the .bim's second column."
        )
    order = np.argsort(positions)
    G = np.empty((rows.shape[0], len(names)))
    G[:, order] = genotypes.read(positions[order], samples=rows)
    mean_impute(G, empty=np.nan)
    return G
