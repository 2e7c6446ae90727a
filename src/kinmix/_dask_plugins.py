"""Dask worker plugins of kinmix (imported only where ``distributed`` is installed)."""

from __future__ import annotations

from typing import Any

from distributed import WorkerPlugin


class BlasThreads(WorkerPlugin):
    """Limit the BLAS/OpenMP thread pools of a worker process to ``threads``.

    Registered on a client, it runs on every worker, also on those the nanny restarts after
    a crash, so that workers × threads stays within the cores of the machine.
    """

    idempotent = True
    name = "kinmix-blas-threads"

    def __init__(self, threads: int) -> None:
        self.threads = int(threads)
        self._limits: Any = None

    def setup(self, worker: Any) -> None:
        from threadpoolctl import threadpool_limits

        self._limits = threadpool_limits(limits=self.threads)

    def teardown(self, worker: Any) -> None:
        if self._limits is not None:
            self._limits.restore_original_limits()
