r"""The one home of Dask in kinmix: client handling, shipping shared state once, and the
distributed runs of the front ends.

Every parallel run in kinmix has the same shape: a read-only state :math:`S` that every
task needs (the null model with :math:`Q_0`, say) and many independent tasks
:math:`f(S, b_1), f(S, b_2), \dots`. :func:`run_tasks` ships :math:`S` once (scattered to
the workers of the current ``dask.distributed`` client, or a single key of the graph on
Dask's default scheduler when there is no client) and gathers the results in order.

- :func:`current_client`: the current ``dask.distributed`` client, or None.
- :func:`run_tasks`: one task per argument, the shared state shipped once.
- :func:`fit_alternatives_dask`: :meth:`kinmix.lmm.LinearMixedModel.fit_alternatives` over
  the Zarr block matrices of :mod:`kinmix.io.blockmatrix`, one task per partition of rows.

Dask, ``distributed`` and Zarr are imported inside the functions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError
from .io.blockmatrix import ALTERNATIVES_COLUMNS, open_block_matrix


def current_client() -> Any:
    """The current ``dask.distributed`` client, or None (also when it is not installed)."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def run_tasks(task: Callable[..., Any], shared: Any, arguments: Iterable[Any]) -> list[Any]:
    """``[task(shared, a) for a in arguments]`` as Dask tasks, with ``shared`` shipped once.

    On the current ``dask.distributed`` client when there is one (``shared`` is scattered
    to the workers once); otherwise on Dask's default scheduler, where ``shared`` is a
    single key of the graph. Results come back in the order of ``arguments``; an argument
    may itself be a Dask delayed object (a block of a Dask array), computed in its task.
    """
    import dask

    client = current_client()
    state = client.scatter(shared, broadcast=False) if client else dask.delayed(shared)
    delayed_task = dask.delayed(task, pure=True)
    parts = [delayed_task(state, argument) for argument in arguments]
    return list(dask.compute(*parts, scheduler=client))


def _fit_partition(model: Any, rows: tuple[str, str | None, int, int]) -> pd.DataFrame:
    """Read rows ``start:stop`` of the stores and test them against ``model`` (one task)."""
    import zarr

    pa_t_path, a_t_path, start, stop = rows
    pa = np.asarray(zarr.open_array(store=pa_t_path, mode="r")[start:stop], np.float64)
    a = None
    if a_t_path is not None:
        a = np.asarray(zarr.open_array(store=a_t_path, mode="r")[start:stop], np.float64)
        a = np.ascontiguousarray(a.T)
    frame = model.fit_alternatives_numpy(np.ascontiguousarray(pa.T), a)
    frame["idx"] += start
    return frame


def fit_alternatives_dask(
    model: Any,
    pa_t_path: str | os.PathLike,
    a_t_path: str | os.PathLike | None = None,
    partition_size: int | None = None,
) -> pd.DataFrame:
    r"""Test every row of the stored alternatives against the fitted null, on Dask.

    Parameters
    ----------
    model : kinmix.lmm.LinearMixedModel
        A fitted model (shipped to the workers once, see :func:`run_tasks`).
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
    Each partition of :math:`m_b` rows costs :math:`O(m_b r)` reads plus, for low rank,
    :math:`O(m_b n)`, and the kernel's :math:`O(m_b(r + n))` reductions.
    """
    pa_t_path = os.fspath(pa_t_path)
    pa_t = open_block_matrix(pa_t_path, "pa_t_path")
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
        a_t = open_block_matrix(a_t_path, "a_t_path")
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
    partitions = [
        (pa_t_path, a_t_path, start, min(start + size, m)) for start in range(0, m, size)
    ]
    frames = run_tasks(_fit_partition, model, partitions)
    return pd.concat(frames, ignore_index=True).sort_values("idx", ignore_index=True)
