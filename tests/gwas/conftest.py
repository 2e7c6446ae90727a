"""The related null cohort of the calibration tests (λGC near 1, uniform p-values)."""

from __future__ import annotations

import numpy as np
import pytest

from kinmix import economic_qs


def _families(rng, nfamilies: int, nchildren: int, m: int, fst: float) -> np.ndarray:
    """Dosages of the children of ``nfamilies`` couples from 2 Balding–Nichols populations."""
    ancestral = rng.uniform(0.05, 0.5, size=m)
    shape = (1 - fst) / fst
    freqs = rng.beta(ancestral * shape, (1 - ancestral) * shape, size=(2, m))
    population = np.arange(nfamilies) % 2
    # parents[f, j, h]: haplotype h of parent j of family f.
    parents = rng.random((nfamilies, 2, 2, m)) < freqs[population][:, None, None, :]
    which = rng.random((nfamilies, nchildren, 2, m)) < 0.5
    alleles = np.where(which, parents[:, None, :, 1], parents[:, None, :, 0])
    return alleles.sum(axis=2).reshape(nfamilies * nchildren, m).astype(float)


def _null_cohort(seed: int, variants: int, traits: int, h2: float = 0.5):
    """125 sibships of 4 (n = 500) from 2 populations (F_ST = 0.05): the GRM's ``QS`` of
    the first 2,000 variants, the other ``variants - 2000`` as the tested dosages G, and
    ``traits`` null traits of heritability ``h2`` on that kinship (no causal variant).

    Returns ``(G, Y, QS)``.
    """
    rng = np.random.default_rng(seed)
    n = 500
    dosages = _families(rng, 125, 4, variants, fst=0.05)
    W, G = dosages[:, :2000], dosages[:, 2000:]
    W = W[:, W.std(axis=0) > 0]
    W = (W - W.mean(axis=0)) / W.std(axis=0)
    QS = economic_qs(W @ W.T / W.shape[1])
    (Q0, _), S0 = QS
    genetic = Q0 @ (np.sqrt(S0)[:, None] * rng.normal(size=(S0.size, traits)))
    Y = 1.0 + np.sqrt(h2) * genetic + np.sqrt(1 - h2) * rng.normal(size=(n, traits))
    return G, Y, QS


@pytest.fixture
def null_cohort():
    """:func:`_null_cohort`, called as ``null_cohort(seed, variants, traits)``."""
    return _null_cohort
