"""scan_files' route without eigenvectors (tridiagonal null fits, Cholesky-whitened blocks)
against its eigendecomposition route, and the choice between them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import kinmix.workflow.tasks as tasks
import kinmix.workflow.whitened as whitened
from kinmix.io import open_genotypes
from kinmix.tridiagonal import TridiagonalKinship
from kinmix.workflow import ScanOptions, scan_files


@pytest.fixture(scope="module")
def genotypes(small_cohort):
    return open_genotypes(bfile=small_cohort.prefix)


def _run(cohort, genotypes, traits, monkeypatch=None, eigen=False, **options):
    if eigen:
        monkeypatch.setattr(whitened, "applies", lambda *args: False)
    result = scan_files(genotypes, cohort.phenotypes[traits], cohort.covariates,
                        options=ScanOptions(**options))
    if eigen:
        monkeypatch.undo()
    return result


def _assert_same(got, want):
    numeric = ["af", "beta", "se", "chi2", "pvalue"]
    pd.testing.assert_frame_equal(got.table.drop(columns=numeric),
                                  want.table.drop(columns=numeric))
    for column in numeric:
        np.testing.assert_allclose(got.table[column], want.table[column], rtol=1e-8,
                                   atol=1e-11, err_msg=column)
    h2_got, h2_want = got.heritability, want.heritability
    assert h2_got[["trait", "chrom", "n"]].equals(h2_want[["trait", "chrom", "n"]])
    np.testing.assert_allclose(h2_got["delta"], h2_want["delta"], rtol=1e-9)
    np.testing.assert_allclose(h2_got["h2"], h2_want["h2"], rtol=1e-9)
    np.testing.assert_allclose(h2_got["h2_se"], h2_want["h2_se"], rtol=1e-6)


@pytest.mark.parametrize("options", [{}, {"test": "f"}, {"test": "wald", "null": "ml"},
                                     {"loco": False}, {"interaction": "env"}])
def test_the_whitened_route_equals_the_eigendecomposition_route(
    small_cohort, genotypes, monkeypatch, options
):
    got = _run(small_cohort, genotypes, ["a"], **options)
    want = _run(small_cohort, genotypes, ["a"], monkeypatch, eigen=True, **options)
    assert {"tridiagonal", "cholesky"} <= set(got.timings) and "eigh" not in got.timings
    assert "eigh" in want.timings and "tridiagonal" not in want.timings
    _assert_same(got, want)


def test_traits_on_their_own_samples_are_whitened_and_traits_sharing_samples_are_not(
    small_cohort, genotypes
):
    # a and b observe different samples: two groups of one trait each
    assert "tridiagonal" in _run(small_cohort, genotypes, ["a", "b"]).timings
    shared = small_cohort.phenotypes[["a"]].assign(c=small_cohort.phenotypes["a"] ** 2)
    result = scan_files(genotypes, shared, small_cohort.covariates, options=ScanOptions())
    assert "eigh" in result.timings and "tridiagonal" not in result.timings


def test_a_kinship_not_of_full_rank_is_eigendecomposed_inside_the_route(
    small_cohort, genotypes, monkeypatch
):
    want = _run(small_cohort, genotypes, ["a"], monkeypatch, eigen=True)
    calls = []
    original = tasks.eigh_upper_in_place
    monkeypatch.setattr(TridiagonalKinship, "full_rank", property(lambda self: False))
    monkeypatch.setattr(tasks, "eigh_upper_in_place",
                        lambda upper: calls.append(upper.shape) or original(upper))
    got = _run(small_cohort, genotypes, ["a"])
    assert len(calls) == 3  # one per chromosome left out
    _assert_same(got, want)


@pytest.mark.parametrize("options", [{"refit_delta": True, "test": "wald"},
                                     {"trait_type": "binary"}])
def test_exact_tests_and_glmm_traits_keep_the_eigendecomposition(options):
    groups = [tasks.TraitGroup(["a"], [0], np.arange(5))]
    assert not whitened.applies(ScanOptions(**options), groups, "upper")
    assert whitened.applies(ScanOptions(), groups, "upper")
    assert not whitened.applies(ScanOptions(), groups, "factor")
