"""Where evaluations run: in this process, on a local process pool, or on a Dask cluster.

All three are ``concurrent.futures`` executors (Dask through ``Client.get_executor``),
so the search and the baseline submit the same pure JSON-in, JSON-out function to any
of them, as the study grid does; in-process runs keep a seeded search deterministic.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager

from parawire.errors import ParawireError


class InlineExecutor(Executor):
    """Runs each call at submit time; its futures are already done."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future; Ctrl-C is not caught
            future.set_exception(exc)
        return future


@contextmanager
def open_executor(workers: int | None, scheduler: str | None) -> Iterator[tuple[Executor, int]]:
    """(executor, how many evaluations to keep in flight)."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise ParawireError("--scheduler needs Dask distributed; install it with "
                                "`pip install 'parawire[dask]'`") from None
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ParawireError(f"--scheduler {scheduler}: cannot reach a Dask scheduler ({exc})") from None
        with client:
            slots = sum(client.nthreads().values()) or 1
            yield client.get_executor(pure=False), slots
        return
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        yield InlineExecutor(), 1
        return
    pool = ProcessPoolExecutor(max_workers=workers)
    try:
        yield pool, workers
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C: do not wait for trainings in flight
        raise
    pool.shutdown()
