"""The chunked GWAS driver kinmix.scan: backends, oracles, edge cases, errors."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kinmix import economic_qs, economic_qs_linear, scan
from kinmix.errors import InputError
from kinmix.lmm import LMM

pytestmark = pytest.mark.filterwarnings("ignore::kinmix.errors.BoundaryWarning")

STAT_COLUMNS = ["n", "af", "beta", "se", "chi2", "pvalue", "lml", "scale"]


def _data(seed: int = 0, n: int = 48, m: int = 23, P: int = 1, rank: int | None = None):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, rank or 2 * n))
    K = Z @ Z.T / Z.shape[1]
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    L = np.linalg.cholesky(K + 1e-9 * np.eye(n))
    Y = X @ rng.normal(size=(2, P)) + L @ rng.normal(size=(n, P)) + rng.normal(size=(n, P))
    G = rng.integers(0, 3, size=(n, m)).astype(float)
    G[rng.random(size=(n, m)) < 0.05] = np.nan
    return G, (Y[:, 0] if P == 1 else Y), X, K, Z


def _assert_same(got: pd.DataFrame, expected: pd.DataFrame, rtol: float = 1e-12) -> None:
    assert list(got.columns) == list(expected.columns)
    for column in got.columns:
        if column in STAT_COLUMNS:
            np.testing.assert_allclose(got[column], expected[column], rtol=rtol, atol=rtol)
        else:
            assert got[column].tolist() == expected[column].tolist(), column


def _fixed_delta_fit(y, X, g, QS, delta):
    lmm = LMM(y, np.column_stack([X, g]), QS)
    lmm.delta = delta
    lmm.fix("delta")
    lmm.fit(verbose=False)
    return lmm


# -- backends -------------------------------------------------------------------------------
def test_scan__numpy_memmap_and_dask_agree(tmp_path):
    G, Y, X, K, _ = _data(P=2)
    QS = economic_qs(K)
    expected = scan(G, Y, X, QS, block_size=4)
    mm = np.memmap(tmp_path / "g.f32", dtype=np.float32, mode="w+", shape=G.shape)
    mm[:] = G
    mm.flush()
    readonly = np.memmap(tmp_path / "g.f32", dtype=np.float32, mode="r", shape=G.shape)
    _assert_same(scan(readonly, Y, X, QS, block_size=5), expected)
    _assert_same(scan(G, Y, X, QS), expected)
    for chunks in [(48, 5), (20, 8), (48, 23), (7, 30)]:
        _assert_same(scan(da.from_array(G, chunks=chunks), Y, X, QS), expected)
    _assert_same(scan(da.from_array(G, chunks=(48, 5)), Y, X, QS, block_size=6), expected)


def test_scan__local_cluster_with_processes_agrees():
    distributed = pytest.importorskip("distributed")
    G, Y, X, _, Z = _data(P=2, rank=10)
    QS = economic_qs_linear(Z / np.sqrt(Z.shape[1]))
    expected = scan(G, Y, X, QS)
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster),
    ):
        got = scan(da.from_array(G, chunks=(48, 6)), Y, X, QS)
    _assert_same(got, expected)


# -- oracles --------------------------------------------------------------------------------
@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(12, 40),
    ncov=st.integers(1, 3),
    low_rank=st.booleans(),
)
def test_scan__row_equals_lmm_with_delta_fixed_at_null(seed, n, ncov, low_rank):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, n // 3 if low_rank else 2 * n))
    QS = economic_qs_linear(Z / np.sqrt(Z.shape[1]))
    X = np.column_stack([np.ones(n), rng.normal(size=(n, ncov - 1))])
    y = Z @ rng.normal(size=Z.shape[1]) / np.sqrt(Z.shape[1]) + rng.normal(size=n)
    G = rng.normal(size=(n, 4))
    result = scan(G, y, X, QS)
    null = LMM(y, X, QS)
    null.fit(verbose=False)
    for j in range(G.shape[1]):
        lmm = _fixed_delta_fit(y, X, G[:, j], QS, null.delta)
        row = result.iloc[j]
        assert row["lml"] == pytest.approx(lmm.lml(), rel=1e-9, abs=1e-9)
        assert row["beta"] == pytest.approx(lmm.beta[-1], rel=1e-7, abs=1e-9)
        assert row["se"] == pytest.approx(np.sqrt(lmm.beta_covariance[-1, -1]), rel=1e-7)
        assert row["scale"] == pytest.approx(lmm.scale, rel=1e-9)
        assert row["chi2"] == pytest.approx(2 * (lmm.lml() - null.lml()), rel=1e-6, abs=1e-8)


def test_scan__many_traits_equal_separate_scans():
    G, Y, X, K, _ = _data(seed=5, P=4)
    QS = economic_qs(K)
    result = scan(G, Y, X, QS, block_size=7)
    assert result["trait"].tolist()[:5] == [0, 1, 2, 3, 0]
    for p in range(Y.shape[1]):
        alone = scan(G, Y[:, p], X, QS)
        part = result[result["trait"] == p].drop(columns="trait").reset_index(drop=True)
        _assert_same(part, alone, rtol=1e-10)


def test_scan__kinship_given_as_matrix_or_qs_agree():
    G, y, X, K, _ = _data(seed=2)
    _assert_same(scan(G, y, X, K=K), scan(G, y, X, economic_qs(K)), rtol=1e-12)


def test_scan__without_kinship_is_least_squares():
    G, y, _, _, _ = _data(seed=3)
    G = np.nan_to_num(G, nan=1.0)
    result = scan(G, y)
    n = y.shape[0]
    for j in (0, 7):
        M = np.column_stack([np.ones(n), G[:, j]])
        coef, rss, *_ = np.linalg.lstsq(M, y, rcond=None)
        assert result["beta"][j] == pytest.approx(coef[1], rel=1e-10)
        assert result["scale"][j] == pytest.approx(rss[0] / n, rel=1e-10)
        se = np.sqrt(rss[0] / n * np.linalg.inv(M.T @ M)[1, 1])
        assert result["se"][j] == pytest.approx(se, rel=1e-10)


@pytest.mark.parametrize("rank", [None, 9])
def test_scan__interaction_equals_nested_lmm_fits(rank):
    G, y, X, _, Z = _data(seed=4, rank=rank)
    G = np.nan_to_num(G, nan=0.0)
    rng = np.random.default_rng(9)
    E = pd.DataFrame({"age": rng.normal(size=y.shape[0]), "sex": rng.integers(0, 2, y.size)})
    covariates = np.column_stack([X, E])
    QS = economic_qs_linear(Z / np.sqrt(Z.shape[1]))
    result = scan(G, y, covariates, QS, interaction=E, block_size=6)
    assert list(result.columns) == [
        "variant", "n", "af", "beta", "se", "beta_gxe_age", "se_gxe_age",
        "beta_gxe_sex", "se_gxe_sex", "chi2", "pvalue", "lml", "scale", "reason",
    ]  # fmt: skip
    null = LMM(y, covariates, QS)
    null.fit(verbose=False)
    for j in (0, 5, 13):
        g = G[:, j]
        main = _fixed_delta_fit(y, covariates, g, QS, null.delta)
        full = _fixed_delta_fit(
            y, covariates, np.column_stack([g, g[:, None] * E]), QS, null.delta
        )
        row = result.iloc[j]
        assert row["lml"] == pytest.approx(full.lml(), rel=1e-10)
        assert row["chi2"] == pytest.approx(2 * (full.lml() - main.lml()), rel=1e-7)
        assert [row["beta"], row["beta_gxe_age"], row["beta_gxe_sex"]] == pytest.approx(
            full.beta[-3:], rel=1e-8
        )
        se = np.sqrt(np.diagonal(full.beta_covariance)[-3:])
        assert [row["se"], row["se_gxe_age"], row["se_gxe_sex"]] == pytest.approx(se, rel=1e-8)
        assert row["pvalue"] == pytest.approx(np.exp(-row["chi2"] / 2), rel=1e-10)  # χ²₂


def test_scan__restricted_null_then_ml_alternatives():
    G, y, X, K, _ = _data(seed=10, m=3)
    QS = economic_qs(K)
    result = scan(G, y, X, QS, restricted=True)
    null = LMM(y, X, QS, restricted=True)
    null.fit(verbose=False)
    assert null.delta != pytest.approx(_fitted_delta(y, X, QS), rel=1e-3)
    g = np.where(np.isnan(G[:, 1]), np.nanmean(G[:, 1]), G[:, 1])
    lmm = _fixed_delta_fit(y, X, g, QS, null.delta)
    assert result["lml"][1] == pytest.approx(lmm.lml(), rel=1e-10)
    assert result["beta"][1] == pytest.approx(lmm.beta[-1], rel=1e-8)


def _fitted_delta(y, X, QS):
    lmm = LMM(y, X, QS)
    lmm.fit(verbose=False)
    return lmm.delta


def test_scan__dask_ships_the_null_state_once(monkeypatch):
    import dask

    from kinmix.gwas._block import ScanState

    G, y, X, K, _ = _data(seed=11)
    seen = []
    compute = dask.compute

    def spy(*parts, **kwargs):
        graph = dict(dask.base.collections_to_expr(parts).__dask_graph__())
        keys = [k for k, v in graph.items() if isinstance(getattr(v, "value", v), ScanState)]
        users = [k for k, task in graph.items() if set(keys) & set(task.dependencies)]
        seen.append((len(keys), len(users)))
        return compute(*parts, **kwargs)

    monkeypatch.setattr(dask, "compute", spy)
    result = scan(da.from_array(G, chunks=(48, 5)), y, X, K=K)
    assert len(result) == G.shape[1]
    assert seen == [(1, 5)]  # one key holds the state; the 5 block tasks share it


def test_scan__verbose_gives_the_same_table():
    G, y, X, K, _ = _data(seed=12)
    _assert_same(scan(G, y, X, K=K, block_size=5, verbose=True), scan(G, y, X, K=K))


# -- genotype edge cases --------------------------------------------------------------------
def test_scan__missing_dosages_take_the_variant_mean():
    G, y, X, K, _ = _data(seed=6)
    QS = economic_qs(K)
    mean = np.nanmean(G, axis=0)
    imputed = np.where(np.isnan(G), mean, G)
    result = scan(G, y, X, QS)
    expected = scan(imputed, y, X, QS)
    np.testing.assert_array_equal(result["n"], (~np.isnan(G)).sum(axis=0))
    np.testing.assert_allclose(result["af"], mean / 2, rtol=1e-14)
    for column in ("beta", "se", "chi2", "pvalue", "lml", "scale"):
        np.testing.assert_allclose(result[column], expected[column], rtol=1e-12)


def test_scan__degenerate_variants_get_nan_and_a_reason():
    G, y, X, K, _ = _data(seed=7, m=6)
    G[:, 1] = 2.0
    G[:, 2] = np.nan
    G[:, 3] = 3 * X[:, 1] - 1
    G[:4, 4] = np.nan
    G[4:, 4] = 1.0  # constant once imputed
    result = scan(G, y, X, economic_qs(K), variants=list("abcdef"))
    assert result["variant"].tolist() == list("abcdef")
    assert result["reason"].tolist() == [
        None, "constant", "all missing", "collinear with covariates", "constant", None,
    ]  # fmt: skip
    bad = result.iloc[1:5]
    for column in ("beta", "se", "chi2", "pvalue", "lml", "scale"):
        assert bad[column].isna().all(), column
    assert result[["beta", "se", "chi2", "pvalue", "lml"]].iloc[[0, 5]].notna().all().all()
    assert result["n"].tolist()[1:5] == [48, 0, 48, 44]
    assert result["af"].iloc[1] == 1.0
    assert np.isnan(result["af"].iloc[2])


def test_scan__dataframe_inputs_name_variants_and_traits():
    G, Y, X, K, _ = _data(seed=8, m=3, P=2)
    frame = pd.DataFrame(G, columns=["rs1", "rs2", "rs3"])
    traits = pd.DataFrame(Y, columns=["height", "weight"])
    result = scan(frame, traits, X, K=K)
    assert result["variant"].tolist() == ["rs1", "rs1", "rs2", "rs2", "rs3", "rs3"]
    assert result["trait"].tolist() == ["height", "weight"] * 3
    single = scan(frame, traits["weight"], X, K=K)
    assert "trait" not in single.columns
    np.testing.assert_allclose(single["chi2"], result["chi2"][1::2], rtol=1e-12)


def test_scan__no_variants_gives_an_empty_table():
    _, y, X, K, _ = _data(seed=1)
    result = scan(np.empty((y.size, 0)), y, X, K=K)
    assert len(result) == 0
    assert "pvalue" in result.columns
    E = np.random.default_rng(0).normal(size=(y.size, 1))
    result = scan(np.empty((y.size, 0)), y, X, K=K, interaction=E)
    assert len(result) == 0
    assert "beta_gxe_0" in result.columns


# -- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"G": np.full((48, 2), "a")}, "G must hold numbers"),
        ({"G": [[1.0, 2.0], [3.0]]}, "G must be a numeric array; could not convert"),
        ({"G": np.ones(48)}, r"G must be two-dimensional \(samples × variants\)"),
        ({"G": np.ones((47, 3))}, "G has 47 rows but y has 48 samples"),
        ({"G": np.full((48, 2), np.inf)}, "G contains infinite values"),
        ({"y": np.r_[np.nan, np.ones(47)]}, "y contains 1 non-finite value"),
        ({"y": np.ones((48, 0))}, "y has no column"),
        ({"X": np.ones((48, 2))}, "X has 2 columns but rank 1"),
        ({"X": np.ones((47, 1))}, "X has 47 rows but 48 were expected"),
        ({"K": np.eye(47)}, "K has 47 rows but 48 were expected"),
        ({"QS": "nope"}, r"QS must be a tuple \(\(Q0, Q1\), S0\)"),
        ({"QS": "k"}, "give either QS or K, not both"),
        ({"interaction": np.ones((48, 0))}, "interaction has no column"),
        ({"interaction": np.ones((48, 1))}, "interaction column 0 is constant"),
        ({"interaction": np.ones((40, 1))}, "interaction has 40 rows"),
        ({"variants": ["a"]}, "variants has 1 entries but G has 3 columns"),
        ({"block_size": 0}, "block_size must be a positive integer; got 0"),
        ({"block_size": 2.5}, "block_size must be a positive integer; got 2.5"),
    ],
)
def test_scan__rejects_bad_input(change, match):
    _, y, X, K, _ = _data(seed=1)
    args = {"G": np.ones((48, 3)), "y": y, "X": X, "QS": None, "K": K}
    if change.get("QS") == "k":
        change = {"QS": economic_qs(K)}
    elif "QS" in change:
        args["K"] = None
    args.update(change)
    G, y, X, QS = args.pop("G"), args.pop("y"), args.pop("X"), args.pop("QS")
    with pytest.raises(InputError, match=match):
        scan(G, y, X, QS, **args)


def test_scan__rejects_too_few_samples():
    with pytest.raises(InputError, match="at least 4 samples are needed to test a variant"):
        scan(np.ones((3, 1)), [1.0, 2.0, 4.0], np.column_stack([np.ones(3), [0.0, 1, 0]]))


def test_scan__rejects_variants_for_a_dataframe():
    G, y, X, K, _ = _data(seed=1, m=2)
    with pytest.raises(InputError, match="G is a DataFrame whose columns name the variants"):
        scan(pd.DataFrame(G), y, X, K=K, variants=["a", "b"])


def test_scan__verbose_draws_one_progress_bar_on_stderr(capsys):
    pytest.importorskip("tqdm")  # the "progress" extra, part of "all" and "test"
    G, y, X, K, _ = _data(seed=12)
    scan(G, y, X, K=K, block_size=5, verbose=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    blocks = -(-G.shape[1] // 5)
    assert f"{blocks}/{blocks}" in captured.err and "scan" in captured.err
    scan(G, y, X, K=K, block_size=5, verbose=False)
    assert capsys.readouterr().err == ""


def test_scan__given_deltas_fit_nothing_and_equal_the_fitted_scan(monkeypatch):
    G, Y, X, K, _ = _data(seed=4, P=2)
    fitted = scan(G, Y, X, K=K, block_size=5)
    deltas = []
    for p in range(2):
        null = LMM(Y[:, p], X, economic_qs(K))
        null.fit(verbose=False)
        deltas.append(null.delta)
    monkeypatch.setattr(LMM, "fit", lambda self, **kwargs: pytest.fail("refitted"))
    given = scan(G, Y, X, K=K, block_size=5, deltas=deltas)
    _assert_same(given, fitted, rtol=1e-9)
    with pytest.raises(InputError, match=r"deltas must hold one null δ in \(0, 1\] per trait"):
        scan(G, Y, X, K=K, deltas=[0.5])
    with pytest.raises(InputError, match="deltas must hold"):
        scan(G, Y, X, K=K, deltas=[0.5, 0.0])
