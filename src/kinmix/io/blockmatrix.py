r"""Block matrices: 2-D float64 arrays stored as Zarr, and alternatives fitted from them.

This is kinmix's counterpart of Hail's ``BlockMatrix.write(path, force_row_major=True)``
and ``BlockMatrix.read(path)``. A block matrix is a local Zarr array (the format of the
installed ``zarr``; checked with zarr 2.18 and 3.1) of float64 values cut into square
chunks of ``block_size``, stored row-major. Writes go to a hidden sibling folder that is
renamed into place only once every chunk is written, so a killed write never leaves
something that reads as a complete matrix at ``path``.

:func:`fit_alternatives_dask` runs :meth:`kinmix.lmm.LinearMixedModel.fit_alternatives`:
the stored :math:`(P_rA)^\top` (and :math:`A^\top` for low rank) hold one row per
alternative; rows are grouped into partitions, and each partition is one Dask task that
reads its rows and calls the scan kernel.

Dask and Zarr are imported inside the functions: importing this module needs only NumPy
and pandas.
"""

from __future__ import annotations

import os
import shutil
import uuid
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import InputError

if TYPE_CHECKING:
    from ..lmm import LinearMixedModel

#: Default side of the square chunks, as Hail's default block size.
DEFAULT_BLOCK_SIZE = 4096

#: Columns of the table returned by :func:`fit_alternatives_dask`.
ALTERNATIVES_COLUMNS = ("idx", "beta", "sigma_sq", "chi_sq", "p_value")


def _is_dask(array: Any) -> bool:
    return hasattr(array, "dask") and hasattr(array, "chunks")


def _check_dtype(dtype: Any, name: str) -> None:
    if np.dtype(dtype).kind not in "biuf":
        raise InputError(f"{name} must hold numbers; its dtype is {np.dtype(dtype)}.")


def write_block_matrix(
    array: Any,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> None:
    """Write a 2-D NumPy or Dask array to ``path`` as a row-major Zarr block matrix.

    Parameters
    ----------
    array : ndarray or dask.array.Array, shape (rows, columns)
        Numeric values; stored as float64. A Dask array is written chunk by chunk on the
        current scheduler and never held in memory whole.
    path : str or os.PathLike
        Local folder of the Zarr store. It must not exist unless ``overwrite`` is True.
    overwrite : bool
        Replace an existing store at ``path``.
    block_size : int
        Side of the square chunks (the last row and column of chunks may be smaller).

    Raises
    ------
    kinmix.InputError
        If ``array`` is not 2-D or not numeric, ``block_size`` is not positive, or
        ``path`` exists and ``overwrite`` is False.

    Notes
    -----
    The store is written to a hidden sibling folder, then renamed to ``path``; an
    existing store is moved aside first and deleted after the rename.
    """
    import zarr

    path = os.path.abspath(os.fspath(path))
    if int(block_size) <= 0:
        raise InputError(f"block_size must be positive, found {block_size}.")
    if not _is_dask(array):
        array = np.asarray(array)
    _check_dtype(array.dtype, "array")
    if array.ndim != 2:
        raise InputError(f"array must be two-dimensional; got shape {array.shape}.")
    if os.path.lexists(path) and not overwrite:
        raise InputError(f"path {path!r} already exists; pass overwrite=True to replace it.")
    chunks = tuple(max(1, min(int(block_size), size)) for size in array.shape)
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    token = uuid.uuid4().hex
    tmp = os.path.join(parent, f".{name}.tmp-{token}")
    try:
        store = zarr.open_array(store=tmp, mode="w", shape=array.shape, chunks=chunks, dtype="f8")
        if _is_dask(array):
            import dask.array as da

            da.store(array.astype(np.float64).rechunk(chunks), store, lock=False)
        else:
            store[...] = array.astype(np.float64, copy=False)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = os.path.join(parent, f".{name}.old-{token}")
    if os.path.lexists(path):
        os.rename(path, old)
    os.rename(tmp, path)
    if os.path.lexists(old):
        if os.path.isdir(old) and not os.path.islink(old):
            shutil.rmtree(old)
        else:
            os.remove(old)


def _open(path: str | os.PathLike, name: str):
    """Open the Zarr array at ``path`` read-only, or raise naming ``name`` and the path."""
    import zarr

    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(f"{name}: no block matrix at {path!r} (the path does not exist).")
    try:
        array = zarr.open_array(store=path, mode="r")
    except Exception as exc:
        raise InputError(
            f"{name}: {path!r} is not a readable Zarr array (missing or corrupt metadata: "
            f"{exc}). Rewrite it with kinmix.io.blockmatrix.write_block_matrix."
        ) from exc
    if array.ndim != 2:
        raise InputError(
            f"{name}: the array at {path!r} must be two-dimensional; it has shape {array.shape}."
        )
    _check_dtype(array.dtype, name)
    return array


def read_block_matrix(path: str | os.PathLike):
    """The block matrix stored at ``path``, as a lazy Dask array with the stored chunks.

    Raises
    ------
    kinmix.InputError
        If ``path`` does not exist, is not a Zarr array (missing or corrupt metadata),
        is not 2-D, or does not hold numbers.
    """
    import dask.array as da

    return da.from_zarr(_open(path, "path"))


def current_client():
    """The current ``dask.distributed`` client, or None (also when it is not installed)."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _fit_partition(
    model: LinearMixedModel,
    pa_t_path: str,
    a_t_path: str | None,
    start: int,
    stop: int,
) -> pd.DataFrame:
    """Read rows ``start:stop`` of the stores and test them (one Dask task)."""
    import zarr

    pa = np.asarray(zarr.open_array(store=pa_t_path, mode="r")[start:stop], np.float64)
    a = None
    if a_t_path is not None:
        a = np.asarray(zarr.open_array(store=a_t_path, mode="r")[start:stop], np.float64)
        a = np.ascontiguousarray(a.T)
    return model._fit_alternatives_block(np.ascontiguousarray(pa.T), a, start)


def fit_alternatives_dask(
    model: LinearMixedModel,
    pa_t_path: str | os.PathLike,
    a_t_path: str | os.PathLike | None = None,
    partition_size: int | None = None,
) -> pd.DataFrame:
    r"""Test every row of the stored alternatives against the fitted null, on Dask.

    Parameters
    ----------
    model : kinmix.lmm.LinearMixedModel
        A fitted model (its null state is shipped to the workers once).
    pa_t_path : str or os.PathLike
        Block matrix :math:`(P_rA)^\top`, shape (m, r): one row per alternative.
    a_t_path : str or os.PathLike, optional
        Block matrix :math:`A^\top`, shape (m, n); required for, and only for, a low-rank
        model.
    partition_size : int, optional
        Rows per task; defaults to the row chunk size of ``pa_t_path``. Any chunking of
        the stores is accepted: each task reads exactly its rows.

    Returns
    -------
    pandas.DataFrame
        Columns ``idx, beta, sigma_sq, chi_sq, p_value``, one row per alternative,
        ordered by ``idx``; identical to ``model.fit_alternatives_numpy(pa, a)``.

    Notes
    -----
    Runs on the current ``dask.distributed`` client when there is one (the model is
    scattered to the workers once), otherwise on the local threaded scheduler (the model
    is a single key of the graph). Each partition of :math:`m_b` rows costs
    :math:`O(m_b r)` reads plus, for low rank, :math:`O(m_b n)`, and the kernel's
    :math:`O(m_b(r + n))` reductions.
    """
    import dask

    pa_t_path = os.fspath(pa_t_path)
    pa_t = _open(pa_t_path, "pa_t_path")
    m, r = pa_t.shape
    if r != model.r:
        raise InputError(
            f"pa_t_path has {r} columns but the model has r={model.r} (one column per eigenvalue)."
        )
    if a_t_path is None:
        if model.low_rank:
            raise InputError("model is low-rank so a_t_path is required.")
    else:
        if not model.low_rank:
            raise InputError("model is full-rank so a_t_path must not be set.")
        a_t_path = os.fspath(a_t_path)
        a_t = _open(a_t_path, "a_t_path")
        if a_t.shape[0] != m:
            raise InputError(
                f"a_t_path has {a_t.shape[0]} rows but pa_t_path has {m}: both hold one row "
                "per alternative."
            )
        if a_t.shape[1] != model.n:
            raise InputError(
                f"a_t_path has {a_t.shape[1]} columns but the model has n={model.n} observations."
            )
    size = int(pa_t.chunks[0]) if partition_size is None else int(partition_size)
    if size <= 0:
        raise InputError(f"partition_size must be positive, found {partition_size}.")
    if m == 0:
        return pd.DataFrame({col: np.empty(0) for col in ALTERNATIVES_COLUMNS}).astype(
            {"idx": np.int64}
        )

    model._scan_null()  # build the null state once, before the model is shipped
    client = current_client()
    shared = client.scatter(model, broadcast=False) if client else dask.delayed(model)
    task = dask.delayed(_fit_partition, pure=True)
    parts = [
        task(shared, pa_t_path, a_t_path, start, min(start + size, m))
        for start in range(0, m, size)
    ]
    frames = dask.compute(*parts, scheduler=client if client else "threads")
    return pd.concat(frames, ignore_index=True).sort_values("idx", ignore_index=True)
