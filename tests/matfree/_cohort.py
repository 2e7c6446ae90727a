"""A small simulator of a cohort of nuclear families plus unrelated people (tests only).

Founders' genotypes are Binomial(2, p) per variant; each child inherits one allele from
each parent, drawn as Bernoulli(g_parent/2), variants independently (no linkage).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Cohort:
    """Dosages ``G`` (n×m float64, NaN missing), chromosome labels and a trait."""

    G: np.ndarray
    chromosomes: np.ndarray
    y: np.ndarray
    causal: np.ndarray


def simulate(
    *,
    families: int,
    children: int,
    unrelated: int,
    variants: int,
    chromosomes: int,
    h2: float,
    causal_chromosomes: int | None = None,
    missing: float = 0.0,
    seed: int = 0,
) -> Cohort:
    """Simulate ``families`` × (2 parents + ``children``) + ``unrelated`` people.

    The trait is a polygenic score over every variant of the first ``causal_chromosomes``
    chromosomes (all by default) with heritability ``h2``, plus Gaussian noise.
    """
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.05, 0.5, size=variants)
    founders = 2 * families + unrelated
    F = rng.binomial(2, freq, size=(founders, variants)).astype(np.int8)
    kids = []
    for f in range(families):
        mother, father = F[2 * f], F[2 * f + 1]
        for _ in range(children):
            from_mother = rng.random(variants) < mother / 2
            from_father = rng.random(variants) < father / 2
            kids.append(from_mother.astype(np.int8) + from_father.astype(np.int8))
    G = np.vstack([F, *kids]).astype(np.float64) if kids else F.astype(np.float64)
    labels = np.repeat(np.arange(1, chromosomes + 1), -(-variants // chromosomes))[:variants]
    ncausal = chromosomes if causal_chromosomes is None else causal_chromosomes
    causal = labels <= ncausal
    Z = G[:, causal] - G[:, causal].mean(axis=0)
    sd = Z.std(axis=0)
    Z = Z[:, sd > 0] / sd[sd > 0]
    genetic = Z @ rng.standard_normal(Z.shape[1]) / np.sqrt(Z.shape[1])
    y = np.sqrt(h2) * genetic / genetic.std() + np.sqrt(1 - h2) * rng.standard_normal(len(G))
    if missing > 0:
        G[rng.random(G.shape) < missing] = np.nan
    return Cohort(G, labels.astype(str), y, causal)
