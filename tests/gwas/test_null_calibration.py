"""Under the null, scan p-values are uniform and the genomic inflation is near one.

The samples are 125 families of 4 siblings from 2 populations, the kinship is the GRM of
2,000 simulated variants, and the traits (h² = 0.5 on that kinship, no causal variant) are
tested against 2,000 other variants transmitted in the same families. All the statistics
of one trait share its single draw of y, so the inflation of one trait varies by about
±0.06 from draw to draw whatever the number of variants; pooling 20 traits (one scan, P =
20) brings that spread to about ±0.015.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from kinmix import economic_qs, scan

#: Median of the χ² distribution with one degree of freedom.
CHI2_MEDIAN = float(stats.chi2.median(1))


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


def test_scan__null_pvalues_are_uniform_with_related_samples():
    rng = np.random.default_rng(7)
    n, ntraits, h2 = 500, 20, 0.5
    dosages = _families(rng, 125, 4, 4000, fst=0.05)
    W, G = dosages[:, :2000], dosages[:, 2000:]
    W = W[:, W.std(axis=0) > 0]
    W = (W - W.mean(axis=0)) / W.std(axis=0)
    QS = economic_qs(W @ W.T / W.shape[1])
    (Q0, _), S0 = QS
    genetic = Q0 @ (np.sqrt(S0)[:, None] * rng.normal(size=(S0.size, ntraits)))
    Y = 1.0 + np.sqrt(h2) * genetic + np.sqrt(1 - h2) * rng.normal(size=(n, ntraits))

    result = scan(G, Y, None, QS)
    tested = result[result["reason"].isna()]
    assert len(tested) >= 0.99 * len(result)
    inflation = np.median(tested["chi2"]) / CHI2_MEDIAN
    assert 0.95 <= inflation <= 1.05
    assert stats.kstest(tested["pvalue"], "uniform").pvalue > 0.01
    # Ignoring the relatedness inflates the same statistics.
    naive = scan(G, Y)
    assert np.median(naive["chi2"].dropna()) / CHI2_MEDIAN > 1.2
