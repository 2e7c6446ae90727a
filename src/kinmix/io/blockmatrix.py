r"""Block matrices: 2-D float64 arrays stored as Zarr.

This is kinmix's counterpart of Hail's ``BlockMatrix.write(path, force_row_major=True)``
and ``BlockMatrix.read(path)``. A block matrix is a local Zarr array (the format of the
installed ``zarr``; checked with zarr 2.18 and 3.1) of float64 values cut into square
chunks of ``block_size``, stored row-major. Writes go to a hidden sibling folder that is
renamed into place only once every chunk is written, so a killed write never leaves
something that reads as a complete matrix at ``path``.

The stores are read by :func:`kinmix.distributed.fit_alternatives_dask`, which runs
:meth:`kinmix.lmm.LinearMixedModel.fit_alternatives` over them.

Dask and Zarr are imported inside the functions: importing this module needs only NumPy
and pandas.
"""

from __future__ import annotations

import os
import shutil
import uuid
from typing import Any

import numpy as np

from .._validate import is_dask_array
from ..errors import InputError

#: Default side of the square chunks, as Hail's default block size.
DEFAULT_BLOCK_SIZE = 4096

#: Columns of the table of tested alternatives (:func:`kinmix.distributed.fit_alternatives_dask`).
ALTERNATIVES_COLUMNS = ("idx", "beta", "sigma_sq", "chi_sq", "p_value")


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
    if not is_dask_array(array):
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
        if is_dask_array(array):
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


def open_block_matrix(path: str | os.PathLike, name: str = "path") -> Any:
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

    return da.from_zarr(open_block_matrix(path, "path"))
