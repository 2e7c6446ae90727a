"""kinmix.gwas.prepare_scan: one validated null state scanning many blocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kinmix import InputError, economic_qs
from kinmix.gwas import prepare_scan, scan


@pytest.fixture
def cohort():
    rng = np.random.default_rng(1)
    n = 60
    G = rng.binomial(2, 0.3, (n, 40)).astype(float)
    G[3, 5] = np.nan
    G[:, 7] = 1.0  # constant: NaN statistics and its reason
    Z = rng.standard_normal((n, 80))
    QS = economic_qs(Z @ Z.T / 80)
    y = Z[:, :5].sum(axis=1) + rng.standard_normal(n)
    X = np.column_stack([np.ones(n), rng.standard_normal(n)])
    return G, y, X, QS


@pytest.mark.parametrize(("test", "refit"), [("lrt", False), ("f", False), ("all", False),
                                             ("wald", True), ("lrt", True)])
def test_blocks_of_a_prepared_scan_equal_one_scan(cohort, test, refit):
    G, y, X, QS = cohort
    whole = scan(G, y, X, QS, test=test, refit_delta=refit)
    prepared = prepare_scan(y, X, QS, test=test, refit_delta=refit)
    parts = pd.concat([prepared.table(G[:, :25]), prepared.table(G[:, 25:])], ignore_index=True)
    assert list(parts.columns) == list(whole.columns)
    numbers = whole.select_dtypes("number").columns.drop("variant")
    np.testing.assert_allclose(parts[numbers], whole[numbers], rtol=1e-10, atol=1e-12)
    assert parts["reason"].tolist() == whole["reason"].tolist()


def test_prepared_eigenvectors_are_a_view_of_the_basis_and_the_layout_does_not_matter(cohort):
    G, y, X, ((Q0, Q1), S0) = cohort
    fortran = prepare_scan(y, X, ((np.asfortranarray(Q0), Q1), S0), deltas=[0.4])
    ordered = prepare_scan(y, X, ((np.ascontiguousarray(Q0), Q1), S0), deltas=[0.4])
    assert np.shares_memory(fortran.Q0, fortran.state.null.basis)
    np.testing.assert_array_equal(fortran.Q0, Q0)
    # bit for bit: a state rebuilt from stored eigenvectors is the original one
    pd.testing.assert_frame_equal(fortran.table(G), ordered.table(G), check_exact=True)


def test_prepare_scan_names_bad_inputs(cohort):
    G, y, X, QS = cohort
    with pytest.raises(InputError, match="needs QS"):
        prepare_scan(y, X, None)
    with pytest.raises(InputError, match="deltas must hold one null"):
        prepare_scan(y, X, QS, deltas=[0.2, 0.3])
    with pytest.raises(InputError, match="G must have 60 rows"):
        prepare_scan(y, X, QS, deltas=[0.3]).table(G[:10])


@pytest.mark.parametrize("missing_columns", [1, 30])  # a few variants, or most, miss a dosage
def test_overwrite_imputes_the_callers_block_and_changes_nothing_else(cohort, missing_columns):
    G, y, X, QS = cohort
    G = G.copy()
    rng = np.random.default_rng(5)
    for j in rng.choice(40, missing_columns, replace=False):
        G[rng.integers(60), j] = np.nan
    prepared = prepare_scan(y, X, QS, deltas=[0.4])
    kept = G.copy()
    expected = prepared.table(G)
    np.testing.assert_array_equal(G, kept)  # untouched without overwrite
    owned = G.copy()
    table = prepared.table(owned, overwrite=True)
    pd.testing.assert_frame_equal(table, expected, check_exact=True)
    assert not np.isnan(owned).any()
    means = np.nanmean(kept, axis=0)
    holes = np.isnan(kept)
    np.testing.assert_allclose(owned[holes], np.broadcast_to(means, kept.shape)[holes])
