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

from kinmix import scan
from kinmix.constants import CHI2_MEDIAN


def test_scan__null_pvalues_are_uniform_with_related_samples(null_cohort):
    G, Y, QS = null_cohort(seed=7, variants=4000, traits=20)
    result = scan(G, Y, None, QS)
    tested = result[result["reason"].isna()]
    assert len(tested) >= 0.99 * len(result)
    inflation = np.median(tested["chi2"]) / CHI2_MEDIAN
    assert 0.95 <= inflation <= 1.05
    assert stats.kstest(tested["pvalue"], "uniform").pvalue > 0.01
    # Ignoring the relatedness inflates the same statistics.
    naive = scan(G, Y)
    assert np.median(naive["chi2"].dropna()) / CHI2_MEDIAN > 1.2
