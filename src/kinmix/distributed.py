r"""The one home of Dask in kinmix: client handling, shipping shared state once, and the
distributed runs of the front ends.

Every parallel run in kinmix has the same shape: a read-only state :math:`S` that every
task needs (the null model with :math:`Q_0`, say) and many independent tasks
:math:`f(S, b_1), f(S, b_2), \dots`. :func:`run_tasks` ships :math:`S` once (scattered to
the workers of the current ``dask.distributed`` client, or a single key of the graph on
Dask's default scheduler when there is no client) and gathers the results in order.

- :func:`current_client`: the current ``dask.distributed`` client, or None.
- :func:`dask_client`: the client of ``kinmix scan --workers N`` (a local cluster of N
  processes, BLAS threads limited with threadpoolctl) or ``--scheduler ADDRESS``.
- :func:`run_tasks`: one task per argument, the shared state shipped once.
- :func:`stream_tasks`: the same, results yielded as they complete, retried on failure.
- :func:`run_chromosomes`: a LOCO scan's shape: one null task per chromosome, then its
  blocks as tasks that share the chromosome's null state, results streamed back.
- :func:`fit_alternatives_dask`: :meth:`kinmix.lmm.LinearMixedModel.fit_alternatives` over
  the Zarr block matrices of :mod:`kinmix.io.blockmatrix`, one task per partition of rows.

Dask, ``distributed`` and Zarr are imported inside the functions.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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


#: Times the scheduler reruns a task that raised (a worker that dies is rescheduled anyway,
#: up to ``distributed.scheduler.allowed-failures`` times).
RETRIES = 2


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


@contextmanager
def dask_client(
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    blas_threads: int | None = None,
) -> Iterator[Any]:
    r"""The ``dask.distributed`` client of a run, or None for an in-process run.

    Parameters
    ----------
    workers : int, optional
        Start a local cluster of this many worker processes (one task thread each), closed
        on exit.
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``) to connect to instead; the
        cluster is left running on exit.
    blas_threads : int, optional
        BLAS/OpenMP threads of each worker, set by threadpoolctl in every worker process
        (also in those restarted after a crash). Default for a local cluster
        :math:`\max(1, \lfloor\text{cores}/\text{workers}\rfloor)`, so that
        workers × threads does not oversubscribe the cores; an existing cluster keeps its
        own settings unless given.

    Yields
    ------
    distributed.Client or None
        None when neither ``workers`` nor ``scheduler`` is given.

    Raises
    ------
    kinmix.InputError
        If both or invalid values are given, ``distributed`` is not installed, or the
        scheduler cannot be reached (the message names the address).
    """
    if workers is not None and scheduler is not None:
        raise InputError("give either workers (--workers) or scheduler (--scheduler), not both.")
    if workers is None and scheduler is None:
        yield None
        return
    if workers is not None and (int(workers) != workers or workers < 1):
        raise InputError(f"workers must be a positive integer; got {workers!r}.")
    if blas_threads is not None and (int(blas_threads) != blas_threads or blas_threads < 1):
        raise InputError(f"blas_threads must be a positive integer; got {blas_threads!r}.")
    try:
        from distributed import Client, LocalCluster

        from ._dask_plugins import BlasThreads
    except ImportError as exc:
        raise InputError(
            "distributed runs need dask.distributed and threadpoolctl: "
            "pip install 'kinmix[dask]'."
        ) from exc
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
        with client:
            if blas_threads is not None:
                client.register_plugin(BlasThreads(blas_threads))
            yield client
        return
    threads = blas_threads or max(1, _cores() // int(workers))
    blas_env = {name: str(threads) for name in _BLAS_VARIABLES}
    cluster = LocalCluster(
        n_workers=int(workers),
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        env=blas_env,
    )
    with cluster, Client(cluster) as client:
        client.register_plugin(BlasThreads(threads))
        yield client


#: Environment variables read by BLAS and OpenMP libraries when a worker process starts.
_BLAS_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


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


def stream_tasks(
    task: Callable[[Any, Any], Any],
    shared: Any,
    jobs: Iterable[tuple[Hashable, Any]],
    *,
    client: Any = None,
    retries: int = RETRIES,
) -> Iterator[tuple[Hashable, Any]]:
    """``(key, task(shared, argument))`` for each ``(key, argument)`` of ``jobs``, streamed.

    On ``client`` (a ``dask.distributed.Client``) ``shared`` is scattered once, every job is
    submitted at once, and results are yielded as they complete (in any order), so the
    caller can store each one as soon as it exists; a task that raises is rerun up to
    ``retries`` times and a task whose worker dies is rescheduled. Without a client the
    jobs run here, in order.
    """
    if client is None:
        for key, argument in jobs:
            yield key, task(shared, argument)
        return
    from distributed import as_completed

    state = client.scatter(shared, broadcast=True, hash=False)
    futures = {}
    for key, argument in jobs:
        future = client.submit(task, state, argument, pure=False, retries=retries)
        futures[future] = key
    for future in as_completed(futures):
        yield futures.pop(future), future.result()
        future.release()


def run_chromosomes(
    null_task: Callable[[Any, Hashable], Any],
    block_task: Callable[[Any, Any, Any], Any],
    shared: Any,
    blocks: Mapping[Hashable, Sequence[tuple[Hashable, Any]]],
    *,
    nulls: Mapping[Hashable, Any] | None = None,
    on_null: Callable[[Hashable, Any], None] | None = None,
    client: Any = None,
    retries: int = RETRIES,
) -> Iterator[tuple[Hashable, Any]]:
    r"""Run a LOCO scan: one null task per chromosome, then its blocks, results streamed.

    For each chromosome :math:`c` of ``blocks`` with at least one block to do, its null
    state is ``nulls[c]`` when given (reloaded from a checkpoint), otherwise
    ``null_task(shared, c)`` (typically: the kinship downdate
    :math:`K_{-c} = (S - S_c)/(m - m_c)`, its eigendecomposition and the null fits), passed
    to ``on_null(c, state)`` as soon as it exists (to checkpoint it). Each block
    ``(key, argument)`` of :math:`c` then yields ``(key, block_task(shared, state, argument))``.

    Parameters
    ----------
    null_task, block_task : callable
        Module-level (picklable) functions.
    shared : object
        Read-only state of every task (inputs, the Gram :math:`S`); shipped once.
    blocks : mapping
        Chromosome → the ``(key, argument)`` of its blocks still to compute. A chromosome
        with none gets no null task.
    nulls : mapping, optional
        Null states already known, by chromosome.
    on_null : callable, optional
        Called on this process with each null state computed here or on a worker.
    client : distributed.Client, optional
        Without it, chromosomes run here one after another, in the order of ``blocks``.
        With it, ``shared`` and every reloaded null state are scattered once; the null
        tasks of all chromosomes are submitted at once, and each chromosome's block tasks
        as soon as its null state exists (they take it from the worker that computed it);
        results come back as they complete. Failed tasks are retried (see
        :func:`stream_tasks`).

    Yields
    ------
    tuple
        ``(key, result)`` of each block.
    """
    nulls = dict(nulls or {})
    todo = {c: list(jobs) for c, jobs in blocks.items() if len(jobs)}
    if client is None:
        for c, jobs in todo.items():
            if c not in nulls:
                nulls[c] = null_task(shared, c)
                if on_null is not None:
                    on_null(c, nulls[c])
            state = nulls.pop(c)
            for key, argument in jobs:
                yield key, block_task(shared, state, argument)
            del state  # before the next chromosome's null task: one null state at a time
        return
    from distributed import as_completed

    data = client.scatter(shared, broadcast=True, hash=False)
    pending = as_completed()
    owner: dict[Any, tuple[str, Hashable]] = {}

    def submit_blocks(c: Hashable, state: Any) -> None:
        for key, argument in todo[c]:
            future = client.submit(
                block_task, data, state, argument, pure=False, retries=retries
            )
            owner[future] = ("block", key)
            pending.add(future)

    for c in todo:
        if c in nulls:
            submit_blocks(c, client.scatter(nulls.pop(c), broadcast=True, hash=False))
        else:
            future = client.submit(null_task, data, c, pure=False, retries=retries)
            owner[future] = ("null", c)
            pending.add(future)
    for future in pending:
        kind, key = owner.pop(future)
        if kind == "null":
            if on_null is not None:
                on_null(key, future.result())
            submit_blocks(key, future)
        else:
            yield key, future.result()
            future.release()


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
