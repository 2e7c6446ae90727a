"""LOCO scans of in-memory genotypes: the dense oracle per chromosome, Dask equivalence,
and a worker killed mid-scan."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kinmix import scan
from kinmix.distributed import dask_client, run_chromosomes, stream_tasks
from kinmix.errors import InputError
from kinmix.grm import standardize
from kinmix.gwas import loco_scan

pytestmark = pytest.mark.filterwarnings("ignore::kinmix.errors.BoundaryWarning")
COLUMNS = ["n", "af", "beta", "se", "chi2", "pvalue", "lml", "scale"]


def _cohort(seed: int = 3, n: int = 60, per_chromosome: tuple = (30, 25, 20)):
    rng = np.random.default_rng(seed)
    m = sum(per_chromosome)
    G = rng.binomial(2, rng.uniform(0.1, 0.5, size=m), size=(n, m)).astype(float)
    G[rng.random(size=(n, m)) < 0.02] = np.nan
    G[:, 7] = 1.0  # a constant variant: skipped by the kinship, NaN statistics in the scan
    chromosomes = np.repeat([f"{c + 1}" for c in range(len(per_chromosome))], per_chromosome)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    Z, _ = standardize(G)
    y = X @ [0.5, 1.0] + Z[:, :40] @ rng.normal(scale=0.2, size=40) + rng.normal(size=n)
    return G, y, X, chromosomes


def _same(got: pd.DataFrame, expected: pd.DataFrame, rtol: float) -> None:
    assert list(got.columns) == list(expected.columns)
    for column in COLUMNS:
        np.testing.assert_allclose(got[column], expected[column], rtol=rtol, atol=rtol)
    assert got["reason"].tolist() == expected["reason"].tolist()
    assert got["variant"].tolist() == expected["variant"].tolist()


def test_loco_scan__each_chromosome_equals_a_scan_with_the_other_chromosomes_kinship():
    G, y, X, chromosomes = _cohort()
    got = loco_scan(G, y, X, chromosomes=chromosomes, block_size=9)
    parts = []
    for c in dict.fromkeys(chromosomes):
        Z, _ = standardize(G[:, chromosomes != c])
        K = Z @ Z.T / Z.shape[1]
        part = scan(G[:, chromosomes == c], y, X, K=K)
        part["variant"] = np.flatnonzero(chromosomes == c)
        parts.append(part)
    expected = pd.concat(parts, ignore_index=True)
    _same(got, expected, 1e-9)
    assert got["reason"].iloc[7] == "constant"
    assert got["pvalue"].notna().sum() == G.shape[1] - 1


def test_loco_scan__rejects_bad_chromosomes():
    G, y, X, chromosomes = _cohort()
    with pytest.raises(InputError, match="chromosomes has 3 entries but G has 75 columns"):
        loco_scan(G, y, X, chromosomes=chromosomes[:3])
    with pytest.raises(InputError, match="at least two chromosomes"):
        loco_scan(G, y, X, chromosomes=np.repeat("1", G.shape[1]))
    shuffled = chromosomes.copy()
    shuffled[[0, 40]] = shuffled[[40, 0]]
    with pytest.raises(InputError, match="must be contiguous"):
        loco_scan(G, y, X, chromosomes=shuffled)


def test_loco_null__refuses_a_chromosome_holding_every_kinship_variant():
    G, y, X, _ = _cohort()
    G[:, 30:] = 1.0  # chromosomes 2 and 3 are constant: no kinship variant outside 1
    chromosomes = np.repeat(["1", "2", "3"], [30, 25, 20])
    with pytest.raises(InputError, match="chromosome '1' holds every kinship variant"):
        loco_scan(G, y, X, chromosomes=chromosomes)


def test_dask_client__rejects_bad_arguments():
    with pytest.raises(InputError, match="either workers"):
        with dask_client(workers=2, scheduler="tcp://localhost:1"):
            pass
    with pytest.raises(InputError, match="workers must be a positive integer"):
        with dask_client(workers=0):
            pass
    with pytest.raises(InputError, match="blas_threads must be a positive integer"):
        with dask_client(workers=1, blas_threads=0):
            pass
    with pytest.raises(InputError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        with dask_client(scheduler="tcp://127.0.0.1:9"):
            pass


def test_dask_client__none_without_workers_or_scheduler():
    with dask_client() as client:
        assert client is None


def _square(shared: int, x: int) -> int:
    return shared * x * x


def test_stream_tasks__in_process_keeps_the_order():
    assert list(stream_tasks(_square, 2, [("a", 1), ("b", 3)])) == [("a", 2), ("b", 18)]


def test_run_chromosomes__skips_done_chromosomes_and_uses_given_nulls():
    calls = []

    def null(shared, c):
        calls.append(c)
        return 10 * shared + c

    def block(shared, state, x):
        return state + x

    out = list(
        run_chromosomes(
            null,
            block,
            1,
            {1: [("a", 1)], 2: [], 3: [("b", 2), ("c", 3)]},
            nulls={3: 100},
            on_null=lambda c, s: calls.append(("saved", c, s)),
        )
    )
    assert out == [("a", 12), ("b", 102), ("c", 103)]
    assert calls == [1, ("saved", 1, 11)]


@pytest.mark.slow
def test_loco_scan__two_worker_processes_equal_in_process_also_when_a_worker_dies(
    tmp_path, monkeypatch
):
    G, y, X, chromosomes = _cohort()
    expected = loco_scan(G, y, X, chromosomes=chromosomes, block_size=9)
    marker = tmp_path / "killed"
    marker.touch()  # nobody dies while it exists
    monkeypatch.setenv("KINMIX_TEST_KILL_AT", "task:1")
    monkeypatch.setenv("KINMIX_TEST_KILL_MARKER", str(marker))
    with dask_client(workers=2, blas_threads=1) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        got = loco_scan(G, y, X, chromosomes=chromosomes, block_size=9, client=client)
        _same(got, expected, 1e-12)
        marker.unlink()  # the next worker to finish a block dies (and creates the marker)
        killed = loco_scan(G, y, X, chromosomes=chromosomes, block_size=9, client=client)
    assert marker.exists()  # a worker did die mid-scan
    _same(killed, expected, 1e-12)
