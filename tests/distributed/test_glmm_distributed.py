"""A binary-trait (GLMM null) LOCO scan from files on two Dask worker processes equals the
in-process scan to 1e-12 relative, also with its blocks streamed into a checkpoint store."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::kinmix.errors.BoundaryWarning"),
]


def test_scan_files__binary_trait_on_two_workers_equals_in_process(tmp_path):
    pytest.importorskip("distributed")
    from threadpoolctl import threadpool_limits

    from kinmix.checkpoint import CheckpointStore
    from kinmix.distributed import dask_client
    from kinmix.gwas import ResumableRun
    from kinmix.io import open_genotypes
    from kinmix.io.tables import read_sample_table
    from kinmix.simulate import simulate_cohort, write_cohort
    from kinmix.workflow import ScanOptions, scan_files

    paths = write_cohort(
        simulate_cohort(samples=80, variants=150, chromosomes=3, seed=4), tmp_path / "sim"
    )
    genotypes = open_genotypes(bfile=paths["bfile"])
    phenotypes = read_sample_table(paths["pheno"], kind="phenotype", columns=["binary"])
    assert set(np.unique(phenotypes["binary"].dropna())) == {0.0, 1.0}
    options = ScanOptions(trait_type="binary", chunk_size=20)
    # the same arithmetic as a worker's: one BLAS thread
    with threadpool_limits(1):
        expected = scan_files(genotypes, phenotypes, options=options).table
    run = ResumableRun(CheckpointStore.open(tmp_path / "out", manifest={"test": 1}))
    with dask_client(workers=2, blas_threads=1) as client:
        result = scan_files(genotypes, phenotypes, options=options, run=run, client=client)
    run.flush()
    table = result.table
    assert result.steps["computed"]["null"] == 3 and result.steps["computed"]["block"] == 9
    assert list(table.columns) == list(expected.columns) and len(table) == 150
    for column in table.columns:
        got, want = table[column].to_numpy(), expected[column].to_numpy()
        if table[column].dtype.kind == "f":
            assert np.array_equal(np.isnan(got), np.isnan(want)), column
            finite = ~np.isnan(want)
            assert np.isfinite(got[finite]).all() and finite.sum() > 100, column
            difference = np.abs(got - want)[finite] / np.maximum(np.abs(want[finite]), 1.0)
            assert difference.max() <= 1e-12, (column, difference.max())
        else:
            assert got.tolist() == want.tolist(), column
    # a GLMM scan has its own statistics: not every p-value is the same
    assert table["pvalue"].std() > 0.05
