"""Catalogue: bad and edge-case inputs of :func:`kinmix.scan` and :class:`kinmix.FastScanner`.

The right answers are checked against an oracle built from :class:`kinmix.LMM`: the null
fitted by ML, the alternative refitted with δ held at the null value, and
χ² = 2(ℓ₁ − ℓ₀); both likelihoods are themselves checked against the dense covariance.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from kinmix import LMM, FastScanner, economic_qs, scan

from ._data import dense_lml, fitted_lmm, problem, refusal_test

P = problem()
n = P.n
K5, QS5 = P.low_rank(5)
STATS = ["beta", "se", "chi2", "pvalue", "lml", "scale"]


def scan_oracle(y, X, K, g) -> dict[str, float]:
    """χ², β and ℓ₁ of one variant from two explicit LMM fits, checked densely."""
    QS = economic_qs(K)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        null = fitted_lmm(y, X, QS)
    alt = LMM(y, np.column_stack([X, g]), QS)
    alt.delta = null.delta
    alt.fix("delta")
    alt.fit(verbose=False)
    lml1 = dense_lml(y, alt.X, K, delta=alt.delta, scale=alt.scale, beta=alt.beta)
    assert alt.lml() == pytest.approx(lml1, rel=1e-9)
    return {"chi2": 2 * (alt.lml() - null.lml()), "beta": alt.beta[-1], "lml": lml1}


def _assert_oracle(row, y, X, K, g):
    oracle = scan_oracle(y, X, K, g)
    assert row["chi2"] == pytest.approx(oracle["chi2"], rel=1e-7, abs=1e-9)
    assert row["beta"] == pytest.approx(oracle["beta"], rel=1e-7)
    assert row["lml"] == pytest.approx(oracle["lml"], rel=1e-9)


REFERENCE = scan(P.G, P.y, P.X, P.QS)


def test_scan_reference_matches_the_oracle():
    for j in range(P.G.shape[1]):
        _assert_oracle(REFERENCE.iloc[j], P.y, P.X, P.K, P.G[:, j])


def _with_column(column):
    return np.column_stack([P.G, column])


REFUSALS = [
    ("scan-G-object", lambda: scan(P.G.astype(object), P.y, P.X, P.QS), "G must hold numbers"),
    ("scan-G-complex", lambda: scan(P.G + 0j, P.y, P.X, P.QS), "G must hold numbers"),
    ("scan-G-strings", lambda: scan(P.G.astype(str), P.y, P.X, P.QS), "G must hold numbers"),
    (
        "scan-G-inf",
        lambda: scan(_with_column(np.r_[np.inf, P.G[1:, 0]]), P.y, P.X, P.QS),
        "infinite",
    ),
    ("scan-G-1d", lambda: scan(P.G[:, 0], P.y, P.X, P.QS), "G must be two"),
    ("scan-G-rows", lambda: scan(P.G[:-1], P.y, P.X, P.QS), "G has 29 rows"),
    ("scan-y-nan", lambda: scan(P.G, np.r_[np.nan, P.y[1:]], P.X, P.QS), "y contains"),
    pytest.param(
        "scan-empty",
        lambda: scan(np.empty((0, 2)), np.empty(0), None, None),
        "0 samples",
    ),
    ("scan-y-no-column", lambda: scan(P.G, np.empty((n, 0)), P.X, P.QS), "y has no column"),
    (
        "scan-X-duplicated-column",
        lambda: scan(P.G, P.y, np.column_stack([P.X, P.X[:, 0]]), P.QS),
        "X has 3 columns but rank 2",
    ),
    ("scan-n-le-c-plus-1", lambda: scan(P.G[:3], P.y[:3], P.X[:3], None), "at least 4 samples"),
    ("scan-variants-length", lambda: scan(P.G, P.y, P.X, P.QS, variants=["a"]), "variants has 1"),
    (
        "scan-variants-and-DataFrame",
        lambda: scan(pd.DataFrame(P.G), P.y, P.X, P.QS, variants=list("abcdef")),
        "omit variants",
    ),
    ("scan-QS-and-K", lambda: scan(P.G, P.y, P.X, P.QS, K=P.K), "either QS or K"),
    ("scan-K-wrong-size", lambda: scan(P.G, P.y, P.X, K=P.K[:5, :5]), "K has 5 rows"),
    ("scan-K-asymmetric", lambda: scan(P.G, P.y, P.X, K=P.K + np.triu(P.K)), "symmetric"),
    (
        "scan-interaction-constant",
        lambda: scan(P.G, P.y, P.X, P.QS, interaction=np.ones((n, 1))),
        "interaction column 0 is constant",
    ),
    (
        "scan-interaction-no-column",
        lambda: scan(P.G, P.y, P.X, P.QS, interaction=np.empty((n, 0))),
        "interaction has no column",
    ),
    ("scan-block-size-zero", lambda: scan(P.G, P.y, P.X, P.QS, block_size=0), "block_size"),
    ("scan-block-size-fraction", lambda: scan(P.G, P.y, P.X, P.QS, block_size=2.5), "block_size"),
    pytest.param(
        "scan-block-size-nan",
        lambda: scan(P.G, P.y, P.X, P.QS, block_size=float("nan")),
        "block_size",
    ),
    pytest.param(
        "scan-block-size-inf",
        lambda: scan(P.G, P.y, P.X, P.QS, block_size=float("inf")),
        "block_size",
    ),
    ("scan-block-size-string", lambda: scan(P.G, P.y, P.X, P.QS, block_size="8"), "block_size"),
    pytest.param(
        "scan-y-complex",
        lambda: scan(P.G, P.y + 1j, P.X, P.QS),
        "y .*complex",
    ),
    pytest.param(
        "scan-y-constant",
        lambda: scan(P.G, np.full(n, 3.0), P.X, P.QS),
        "y is fitted exactly",
    ),
    pytest.param(
        "scan-one-constant-trait",
        lambda: scan(P.G, np.column_stack([P.y, np.full(n, 3.0)]), P.X, P.QS),
        r"trait 1\) is fitted exactly",
    ),
    pytest.param(
        "scan-interaction-rank-deficient",
        lambda: scan(P.G, P.y, P.X, P.QS, interaction=np.column_stack([P.X[:, 1], 2 * P.X[:, 1]])),
        "interaction has 2 columns but rank 1",
    ),
    ("fs-v-nan", lambda: FastScanner(P.y, P.X, P.QS, float("nan")), "v must be a finite number"),
    ("fs-v-negative", lambda: FastScanner(P.y, P.X, P.QS, -1.0), "v must be a finite number"),
    ("fs-v-0-rank-deficient-K", lambda: FastScanner(P.y, P.X, QS5, 0.0), "v is 0 but K is rank"),
    pytest.param(
        "fs-v-string",
        lambda: FastScanner(P.y, P.X, P.QS, "a"),
        "v must be",
    ),
    ("fs-QS-is-array", lambda: FastScanner(P.y, P.X, P.K, 0.5), "QS must be a tuple"),
    (
        "fs-M-nan",
        lambda: FastScanner(P.y, P.X, P.QS, 0.5).fast_scan(np.full((n, 2), np.nan)),
        "M contains",
    ),
    ("fs-M-rows", lambda: FastScanner(P.y, P.X, P.QS, 0.5).fast_scan(P.G[:-1]), "M has 29 rows"),
    pytest.param(
        "fs-n-le-c",
        lambda: FastScanner(P.y[:2], P.X[:2], economic_qs(P.K[:2, :2]), 0.5),
        "at least 3 samples",
    ),
    pytest.param(
        "fs-saturated-joint-scan",
        lambda: FastScanner(P.y[:5], P.X[:5], economic_qs(P.K[:5, :5]), 0.5).scan(P.G[:5, :3]),
        "M has 3 column",
    ),
    pytest.param(
        "fs-y-constant",
        lambda: FastScanner(np.ones(n), P.X, P.QS, 0.5),
        "y is fitted exactly",
    ),
]


test_refused_with_a_message_naming_the_input = refusal_test(REFUSALS)


# -- accepted inputs: the right answer ---------------------------------------------------------


def _same_table(table, reference=REFERENCE, rtol=1e-10):
    for column in STATS:
        np.testing.assert_allclose(table[column], reference[column], rtol=rtol, err_msg=column)


@pytest.mark.parametrize(
    "G",
    [
        pytest.param(P.G.astype(np.int8), id="scan-G-int8"),
        pytest.param(P.G.astype(np.uint8), id="scan-G-uint8"),
        pytest.param(P.G.astype(np.float32), id="scan-G-float32"),
        pytest.param(P.G.tolist(), id="scan-G-list"),
        pytest.param(pd.DataFrame(P.G), id="scan-G-DataFrame"),
    ],
)
def test_scan_genotype_containers_give_the_float64_answer(G):
    _same_table(scan(G, P.y, P.X, P.QS))


def test_scan_bool_genotypes_are_zero_one():
    _same_table(scan(P.G > 0, P.y, P.X, P.QS), scan((P.G > 0).astype(float), P.y, P.X, P.QS))


def test_scan_pandas_y_and_X_give_the_numpy_answer():
    _same_table(scan(P.G, pd.Series(P.y), pd.DataFrame(P.X), P.QS))


def test_scan_K_gives_the_QS_answer():
    _same_table(scan(P.G, P.y, P.X, K=P.K), rtol=1e-8)


@pytest.mark.parametrize(
    ("column", "reason"),
    [
        pytest.param(np.full(n, 2.0), "constant", id="scan-monomorphic"),
        pytest.param(np.full(n, np.nan), "all missing", id="scan-all-missing"),
        pytest.param(
            np.r_[np.nan, np.ones(n - 1)], "constant", id="scan-monomorphic-with-missing"
        ),
        pytest.param(P.X[:, 1], "collinear with covariates", id="scan-variant-equals-covariate"),
    ],
)
def test_scan_degenerate_variants_get_a_reason_and_leave_the_others(column, reason):
    table = scan(_with_column(column), P.y, P.X, P.QS)
    last = table.iloc[-1]
    assert last["reason"] == reason
    assert np.isnan(last[["beta", "se", "chi2", "pvalue"]].astype(float)).all()
    _same_table(table.iloc[:-1], REFERENCE)
    assert table["reason"].iloc[:-1].isna().all()


def test_scan_missing_dosages_are_mean_imputed():
    g = P.G[:, 0].copy()
    g[[1, 4]] = np.nan
    table = scan(g[:, None], P.y, P.X, P.QS)
    imputed = np.where(np.isnan(g), np.nanmean(g), g)
    _assert_oracle(table.iloc[0], P.y, P.X, P.K, imputed)
    assert table["n"].iloc[0] == n - 2


def test_scan_no_variants_gives_an_empty_table():
    table = scan(np.empty((n, 0)), P.y, P.X, P.QS)
    assert len(table) == 0 and list(table.columns) == list(REFERENCE.columns)


def test_scan_extreme_y_scale_scales_beta_only():
    for factor in (1e10, 1e-10):
        table = scan(P.G, factor * P.y, P.X, P.QS)
        np.testing.assert_allclose(table["beta"], factor * REFERENCE["beta"], rtol=1e-7)
        np.testing.assert_allclose(table["chi2"], REFERENCE["chi2"], rtol=1e-6)


def test_scan_rank_one_kinship_matches_the_oracle():
    K1, QS1 = P.low_rank(1)
    table = scan(P.G[:, :2], P.y, P.X, QS1)
    _assert_oracle(table.iloc[0], P.y, P.X, K1, P.G[:, 0])


def test_scan_n4_with_kinship_matches_the_oracle():
    y, X, K = P.y[:4], P.X[:4, :1], P.K[:4, :4]
    g = np.array([0.0, 1.0, 2.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = scan(g[:, None], y, X, economic_qs(K))
    _assert_oracle(table.iloc[0], y, X, K, g)


def test_scan_no_covariates_matches_the_oracle():
    X = np.empty((n, 0))
    table = scan(P.G[:, :1], P.y, X, P.QS)
    _assert_oracle(table.iloc[0], P.y, X, P.K, P.G[:, 0])


def test_scan_overflowing_dosage_gets_a_reason():
    table = scan(_with_column(1e200 * (np.arange(n) % 2)), P.y, P.X, P.QS)
    last = table.iloc[-1]
    assert isinstance(last["reason"], str)
    _same_table(table.iloc[:-1], REFERENCE)


def test_fs_fast_scan_matches_a_fit_at_fixed_delta():
    null = fitted_lmm(P.y, P.X, P.QS)
    scanner = FastScanner(P.y, P.X, P.QS, null.v1 / null.v0)
    result = scanner.fast_scan(P.G[:, :2], verbose=False)
    for j in range(2):
        alt = LMM(P.y, np.column_stack([P.X, P.G[:, j]]), P.QS)
        alt.delta = null.delta
        alt.fix("delta")
        alt.fit(verbose=False)
        assert result["lml"][j] == pytest.approx(alt.lml(), rel=1e-9)
        assert result["effsizes1"][j] == pytest.approx(alt.beta[-1], rel=1e-8)


def test_fs_empty_candidates():
    scanner = FastScanner(P.y, P.X, P.QS, 0.5)
    assert scanner.fast_scan(np.empty((n, 0)), verbose=False)["lml"].shape == (0,)
    assert scanner.scan(np.empty((n, 0)))["lml"] == pytest.approx(scanner.null_lml())


def test_scan_variant_fitting_y_exactly_gets_a_reason():
    """n = 3, no covariates: a variant proportional to y leaves no residual."""
    y = np.array([1.0, 2.0, 0.0])
    G = np.column_stack([2 * y, [0.0, 1.0, 1.0]])
    table = scan(G, y, np.empty((3, 0)), None)
    assert table["reason"].tolist() == ["degenerate fit", None]
    assert np.isnan(table.loc[0, ["beta", "se", "chi2", "pvalue"]].astype(float)).all()
    assert np.isfinite(table.loc[1, ["beta", "se", "chi2", "pvalue"]].astype(float)).all()
