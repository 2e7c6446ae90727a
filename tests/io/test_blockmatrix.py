"""Block matrices on Zarr and LinearMixedModel.fit_alternatives on Dask."""

from __future__ import annotations

import os

import dask
import dask.array as da
import numpy as np
import pytest
import zarr

from kinmix.distributed import fit_alternatives_dask
from kinmix.errors import InputError
from kinmix.io.blockmatrix import (
    read_block_matrix,
    write_block_matrix,
)
from kinmix.lmm import LinearMixedModel


# -- write / read ---------------------------------------------------------------------------
def test_write_block_matrix__numpy_roundtrip_with_square_chunks(tmp_path):
    a = np.arange(35.0).reshape(7, 5)
    write_block_matrix(a, tmp_path / "a", block_size=3)
    b = read_block_matrix(tmp_path / "a")
    assert b.shape == (7, 5)
    assert b.chunks == ((3, 3, 1), (3, 2))
    np.testing.assert_array_equal(b.compute(), a)
    assert sorted(os.listdir(tmp_path)) == ["a"]


def test_write_block_matrix__dask_ragged_chunks_and_integers(tmp_path):
    a = np.arange(60).reshape(12, 5)
    write_block_matrix(da.from_array(a, chunks=(5, 2)), str(tmp_path / "a"), block_size=4)
    b = read_block_matrix(str(tmp_path / "a"))
    assert b.dtype == np.float64
    assert b.chunks == ((4, 4, 4), (4, 1))
    np.testing.assert_array_equal(b.compute(), a)


def test_write_block_matrix__refuses_existing_path(tmp_path):
    write_block_matrix(np.ones((2, 2)), tmp_path / "a")
    with pytest.raises(InputError, match="already exists; pass overwrite=True"):
        write_block_matrix(np.zeros((2, 2)), tmp_path / "a")
    np.testing.assert_array_equal(read_block_matrix(tmp_path / "a").compute(), 1.0)


def test_write_block_matrix__overwrite_replaces_store(tmp_path):
    write_block_matrix(np.ones((4, 4)), tmp_path / "a", block_size=2)
    write_block_matrix(np.full((3, 2), 5.0), tmp_path / "a", overwrite=True)
    np.testing.assert_array_equal(read_block_matrix(tmp_path / "a").compute(), 5.0)
    assert read_block_matrix(tmp_path / "a").shape == (3, 2)
    assert sorted(os.listdir(tmp_path)) == ["a"]


def test_write_block_matrix__failed_write_leaves_nothing(tmp_path):
    def boom(block):
        raise RuntimeError("killed")

    bad = da.ones((6, 4), chunks=(3, 4)).map_blocks(boom, dtype=float)
    with pytest.raises(RuntimeError, match="killed"):
        write_block_matrix(bad, tmp_path / "a", block_size=3)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.ones(3), r"two-dimensional; got shape \(3,\)"),
        (np.array([["a", "b"]]), "array must hold numbers"),
    ],
)
def test_write_block_matrix__rejects_bad_array(tmp_path, array, match):
    with pytest.raises(InputError, match=match):
        write_block_matrix(array, tmp_path / "a")


def test_write_block_matrix__rejects_nonpositive_block_size(tmp_path):
    with pytest.raises(InputError, match="block_size must be positive, found 0"):
        write_block_matrix(np.ones((2, 2)), tmp_path / "a", block_size=0)


def test_read_block_matrix__missing_path(tmp_path):
    with pytest.raises(InputError, match=r"path: no block matrix at .*nowhere"):
        read_block_matrix(tmp_path / "nowhere")


def test_read_block_matrix__corrupt_metadata(tmp_path):
    write_block_matrix(np.ones((2, 2)), tmp_path / "a")
    for name in ("zarr.json", ".zarray"):
        if (tmp_path / "a" / name).exists():
            (tmp_path / "a" / name).write_text("{not json")
    with pytest.raises(InputError, match="is not a readable Zarr array"):
        read_block_matrix(tmp_path / "a")


def test_read_block_matrix__not_two_dimensional(tmp_path):
    z = zarr.open_array(store=str(tmp_path / "v"), mode="w", shape=(4,), dtype="f8")
    z[:] = 1.0
    with pytest.raises(InputError, match=r"must be two-dimensional; it has shape \(4,\)"):
        read_block_matrix(tmp_path / "v")


def test_read_block_matrix__not_numeric(tmp_path):
    z = zarr.open_array(store=str(tmp_path / "c"), mode="w", shape=(2, 2), dtype="c16")
    z[:] = 1j
    with pytest.raises(InputError, match="path must hold numbers"):
        read_block_matrix(tmp_path / "c")


# -- fit_alternatives -----------------------------------------------------------------------
def _models(seed: int = 3):
    rng = np.random.default_rng(seed)
    n, r_low, m = 40, 12, 23
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    Z = rng.normal(size=(n, r_low))
    y = Z @ rng.normal(size=r_low) * 0.4 + rng.normal(size=n)
    A = rng.integers(0, 3, size=(n, m)).astype(float)
    full, p_full = LinearMixedModel.from_kinship(y, X, Z @ Z.T + 0.1 * np.eye(n))
    low, p_low = LinearMixedModel.from_random_effects(y, X, Z)
    full.fit()
    low.fit()
    return A, (full, p_full), (low, p_low)


def _write_alternatives(tmp_path, model, p, A, chunk):
    write_block_matrix((p @ A).T, tmp_path / "pa_t", block_size=chunk, overwrite=True)
    if model.low_rank:
        write_block_matrix(A.T, tmp_path / "a_t", block_size=chunk + 2, overwrite=True)
        return str(tmp_path / "pa_t"), str(tmp_path / "a_t")
    return str(tmp_path / "pa_t"), None


@pytest.mark.parametrize("rank", ["full", "low"])
@pytest.mark.parametrize(("chunk", "partition_size"), [(5, None), (5, 1), (7, 4), (64, 9)])
def test_fit_alternatives__zarr_equals_numpy(tmp_path, rank, chunk, partition_size):
    A, full, low = _models()
    model, p = full if rank == "full" else low
    expected = model.fit_alternatives_numpy(p @ A, A if model.low_rank else None)
    pa_t, a_t = _write_alternatives(tmp_path, model, p, A, chunk)
    got = model.fit_alternatives(pa_t, a_t, partition_size)
    assert list(got.columns) == ["idx", "beta", "sigma_sq", "chi_sq", "p_value"]
    np.testing.assert_array_equal(got["idx"], np.arange(A.shape[1]))
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12, atol=1e-12)


def test_fit_alternatives__ships_model_once_as_a_single_key(tmp_path, monkeypatch):
    A, (model, p), _ = _models()
    pa_t, _ = _write_alternatives(tmp_path, model, p, A, 4)
    seen = []
    compute = dask.compute

    def spy(*parts, **kwargs):
        graph = dict(dask.base.collections_to_expr(parts).__dask_graph__())
        keys = [key for key, value in graph.items() if getattr(value, "value", value) is model]
        users = [key for key, task in graph.items() if set(keys) & set(task.dependencies)]
        seen.append((len(keys), len(users)))
        return compute(*parts, **kwargs)

    monkeypatch.setattr(dask, "compute", spy)
    got = fit_alternatives_dask(model, pa_t, partition_size=3)
    assert len(got) == A.shape[1]
    assert seen == [(1, 8)]  # one key holds the model; the 8 partition tasks share it


def test_fit_alternatives__distributed_client_equals_numpy(tmp_path):
    # In-process workers keep this fast; tests/scan covers a multi-process cluster.
    distributed = pytest.importorskip("distributed")
    A, full, low = _models()
    with (
        distributed.LocalCluster(
            n_workers=2, processes=False, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster),
    ):
        for model, p in (full, low):
            expected = model.fit_alternatives_numpy(p @ A, A if model.low_rank else None)
            pa_t, a_t = _write_alternatives(tmp_path, model, p, A, 6)
            got = model.fit_alternatives(pa_t, a_t, 5)
            np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12)


def test_fit_alternatives__empty_store_gives_empty_table(tmp_path):
    _, (model, _), _ = _models()
    write_block_matrix(np.empty((0, model.r)), tmp_path / "pa_t")
    got = fit_alternatives_dask(model, tmp_path / "pa_t")
    assert list(got.columns) == ["idx", "beta", "sigma_sq", "chi_sq", "p_value"]
    assert len(got) == 0
    assert got["idx"].dtype == np.int64


def test_fit_alternatives_dask__rejects_mismatched_stores(tmp_path):
    A, (full, p_full), (low, p_low) = _models()
    write_block_matrix((p_full @ A).T[:, :-1], tmp_path / "short")
    with pytest.raises(InputError, match=r"pa_t_path has 39 columns but the model has r=40"):
        fit_alternatives_dask(full, tmp_path / "short")
    pa_t, _ = _write_alternatives(tmp_path, full, p_full, A, 5)
    with pytest.raises(InputError, match="model is full-rank so a_t_path must not be set"):
        fit_alternatives_dask(full, pa_t, pa_t)
    with pytest.raises(InputError, match="partition_size must be positive, found -2"):
        fit_alternatives_dask(full, pa_t, partition_size=-2)
    pa_t, _ = _write_alternatives(tmp_path, low, p_low, A, 5)
    with pytest.raises(InputError, match="model is low-rank so a_t_path is required"):
        fit_alternatives_dask(low, pa_t)
    write_block_matrix(A.T[:-1], tmp_path / "a_rows")
    with pytest.raises(InputError, match="a_t_path has 22 rows but pa_t_path has 23"):
        fit_alternatives_dask(low, pa_t, tmp_path / "a_rows")
    write_block_matrix(A.T[:, :-1], tmp_path / "a_cols")
    with pytest.raises(InputError, match="a_t_path has 39 columns but the model has n=40"):
        fit_alternatives_dask(low, pa_t, tmp_path / "a_cols")
    with pytest.raises(InputError, match="a_t_path: no block matrix at"):
        fit_alternatives_dask(low, pa_t, tmp_path / "missing")


# -- Hail reference --------------------------------------------------------------------------
@pytest.mark.parametrize("rank", ["full", "low"])
def test_fit_alternatives__matches_hail_reference(tmp_path, rank, hail_ref, ref_inputs):
    ref, data = hail_ref, ref_inputs
    y, X, G = data["lmm_y"], data["lmm_X"], data["lmm_G"]
    if rank == "full":
        s, U = np.linalg.eigh(data["lmm_K"])
        P = U.T
        model = LinearMixedModel(P @ y, P @ X, s)
    else:
        U, sv, _ = np.linalg.svd(data["lmm_Zlow"], full_matrices=False)
        P = U.T
        model = LinearMixedModel(P @ y, P @ X, sv**2, y, X)
    model.fit(log_gamma=ref[rank]["log_gamma"])
    write_block_matrix((P @ G).T, tmp_path / "pa_t", block_size=64)
    a_t = None
    if rank == "low":
        write_block_matrix(G.T, tmp_path / "a_t", block_size=50)
        a_t = tmp_path / "a_t"
    got = model.fit_alternatives(str(tmp_path / "pa_t"), a_t and str(a_t), 70)
    expected = ref[f"{rank}_alternatives"]
    for column in ("beta", "sigma_sq", "chi_sq"):
        np.testing.assert_allclose(got[column], expected[column], rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(
        -np.log10(got["p_value"]), -np.log10(expected["p_value"]), rtol=1e-6, atol=1e-12
    )
