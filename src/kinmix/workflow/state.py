"""Null states and kinships as named arrays, for the checkpoints of a resumable run."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..grm import StreamedKinship
from ..io.genotypes import shared_labels
from .blocks import GlmmNull
from .tasks import ChromosomeNull, StoredNull


def null_arrays(null: ChromosomeNull) -> dict[str, np.ndarray]:
    """A chromosome's null state as named arrays (for a checkpoint): the null δ and GLMM
    nulls of each trait group. The eigenvectors are not stored — n×n per chromosome, and
    recomputed from the stored Gram files, bit for bit, when a resumed run needs them."""
    arrays = {"groups": np.array(len(null.deltas))}
    for g, deltas in enumerate(null.deltas):
        if deltas is not None:
            arrays[f"delta_{g}"] = np.asarray(deltas, dtype=np.float64)
    for g, group_nulls in enumerate(null.glmms or []):
        for t, glmm in enumerate(group_nulls):
            arrays[f"glmm_{g}_{t}_eta"], arrays[f"glmm_{g}_{t}_tau"] = glmm.eta, glmm.tau
            for name, free in glmm.free.items():
                arrays[f"glmm_{g}_{t}_free_{name}"] = free
    return arrays


def null_from_arrays(arrays: dict[str, np.ndarray]) -> StoredNull:
    """The :class:`~kinmix.workflow.tasks.StoredNull` written by :func:`null_arrays`."""
    groups = int(arrays["groups"])
    deltas = [
        arrays[f"delta_{g}"].tolist() if f"delta_{g}" in arrays else None for g in range(groups)
    ]
    glmms = [_stored_glmms(arrays, g) for g in range(groups)]
    return StoredNull(deltas, glmms if any(glmms) else None)


def _stored_glmms(arrays: dict[str, np.ndarray], g: int) -> list[GlmmNull]:
    """The GLMM nulls of group ``g`` stored by :func:`null_arrays` (scanners not rebuilt)."""
    nulls, t = [], 0
    while f"glmm_{g}_{t}_eta" in arrays:
        prefix = f"glmm_{g}_{t}_free_"
        free = {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
        nulls.append(GlmmNull(arrays[f"glmm_{g}_{t}_eta"], arrays[f"glmm_{g}_{t}_tau"], free))
        t += 1
    return nulls


def kinship_arrays(kin: StreamedKinship) -> dict[str, np.ndarray]:
    """A :class:`~kinmix.grm.StreamedKinship` built with a folder (its S and :math:`S_c`
    live in files, recorded by name) or on the low-rank path, as named arrays (for a
    checkpoint)."""
    arrays = {
        "n": np.array(kin.n),
        "kind": np.array(kin.kind),
        "count_chrom": np.array(list(kin.counts), dtype=str),
        "count_value": np.array(list(kin.counts.values()), dtype=np.int64),
        "variant_chrom": np.asarray(kin.variant_chrom, dtype=str),
        "keep": kin.keep,
        "center": kin.center,
        "scale": kin.scale,
        "stored_chrom": np.array(list(kin.stored), dtype=str),
        "stored_file": np.array(list(kin.stored.values()), dtype=str),
    }
    if kin.low_rank:
        arrays["factor"] = kin.factor
        arrays["factor_chrom"] = np.asarray(kin.factor_chrom, dtype=str)
    return arrays


def kinship_from_arrays(arrays: dict[str, np.ndarray], folder: Path) -> StreamedKinship:
    """The :class:`~kinmix.grm.StreamedKinship` stored by :func:`kinship_arrays`, its files
    (if any) in ``folder``."""
    counts = dict(zip(arrays["count_chrom"].tolist(), arrays["count_value"].tolist(), strict=True))
    stored = dict(
        zip(arrays["stored_chrom"].tolist(), arrays["stored_file"].tolist(), strict=True)
    )
    factor = arrays.get("factor")
    return StreamedKinship(
        n=int(arrays["n"]),
        kind=str(arrays["kind"]),
        counts=counts,
        variant_chrom=shared_labels(arrays["variant_chrom"]),
        keep=arrays["keep"],
        center=arrays["center"],
        scale=arrays["scale"],
        factor=factor,
        factor_chrom=shared_labels(arrays["factor_chrom"]) if factor is not None else None,
        folder=folder if factor is None else None,
        stored=stored,
    )
