"""The Dask path (LocalCluster, 2 workers × 1 thread) reproduces the NumPy path."""

from __future__ import annotations

import numpy as np
import pytest

from kinmix.matfree import matfree_scan
from kinmix.simulate import simulate_families

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    # Thread workers (processes=False): process workers would add seconds of start-up.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


def test_dask__agrees_with_numpy(client):
    """Whole pipeline (REML per chromosome, float32 GEMMs, refine) to 1e-10 relative.

    Both paths use the same blocks (two per chromosome here), the same float32 BLAS calls
    on them, and add the blocks' float64 products in the same pairwise order
    (``operator.PairwiseSum`` is the streaming form of the Dask tree), so every product is
    equal to the last bit or nearly. That matters beyond round-off: CG stops a column at
    the first iteration whose residual is below the tolerance, and the secant of the REML
    stage stops on a tolerance too, so a 1e-16 difference in a product could switch one
    decision and move δ by the tolerance of that stage (it moved one δ by 2e-9 when the
    two paths summed blocks in different orders). The test therefore also asserts that
    every stage took the same number of iterations on both paths; with that, what
    differs is left-over float64 rounding in the small reductions (measured ≤ 1e-12
    relative on χ² and β, which are differences of nearly equal numbers for the weakest
    variants, hence ``atol`` 1e-13 for β ≈ 1e-5).
    """
    cohort = simulate_families(families=30, children=3, unrelated=150, variants=400,
                               chromosomes=2, h2=0.4, missing=0.01, seed=31)
    options = {"chromosomes": cohort.chromosomes, "refine_pvalue": 1e-2, "block_size": 100,
               "mc_samples": 4}
    local = matfree_scan(cohort.dosages, cohort.trait, **options)
    G = da.from_array(cohort.dosages, chunks=(cohort.dosages.shape[0], 150))
    distributed_table = matfree_scan(G, cohort.trait, **options)
    assert (distributed_table["denominator"] == local["denominator"]).all()
    assert (local["denominator"] == "exact").sum() > 0
    ours, theirs = local.attrs["matfree"], distributed_table.attrs["matfree"]
    assert theirs["iterations"] == ours["iterations"]
    for column in ("beta", "se", "chi2", "pvalue", "scale"):
        np.testing.assert_allclose(distributed_table[column], local[column], rtol=1e-10,
                                   atol=1e-13)
    assert theirs["delta"] == pytest.approx(ours["delta"], rel=1e-13)
