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

    The block GEMMs are the same BLAS calls on both paths; only the order of the float64
    sums over blocks differs (a tree on Dask), hence agreement far below 1e-10 except
    where a value is itself near zero (``atol`` 1e-13 covers betas of order 1e-5).
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
    for column in ("beta", "se", "chi2", "pvalue", "scale"):
        np.testing.assert_allclose(distributed_table[column], local[column], rtol=1e-10,
                                   atol=1e-13)
    assert distributed_table.attrs["matfree"]["delta"] == pytest.approx(
        local.attrs["matfree"]["delta"], rel=1e-10
    )
