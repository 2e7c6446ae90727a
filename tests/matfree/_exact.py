"""kinmix's exact LOCO scan, built from public names: the reference of the matrix-free one."""

from __future__ import annotations

import numpy as np
import pandas as pd

import kinmix
from kinmix.gwas import loco_scan


def exact_loco(G: np.ndarray, chromosomes: np.ndarray, y: np.ndarray):
    """Exact LOCO scan (REML null δ per chromosome) and the δ of each chromosome.

    The table is :func:`kinmix.gwas.loco_scan`'s (rows in the order of ``G``'s columns);
    each chromosome's δ is that of :class:`kinmix.LMM` fitted by REML on the kinship of
    the other chromosomes, which is the δ the scan's null uses.
    """
    table = loco_scan(G, y, chromosomes=chromosomes, restricted=True)
    X = np.ones((G.shape[0], 1))
    deltas = {}
    for chrom in pd.unique(chromosomes):
        QS = kinmix.economic_qs(kinmix.grm(G[:, chromosomes != chrom]))
        lmm = kinmix.LMM(y, X, QS, restricted=True)
        lmm.fit(verbose=False)
        deltas[chrom] = float(lmm.delta)
    return table, deltas


def minus_log10(p) -> np.ndarray:
    return -np.log10(np.asarray(p, dtype=np.float64))
