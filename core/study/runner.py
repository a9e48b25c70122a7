"""Run a study's samples on a local process pool or an existing Dask cluster.

Work is sent in batches of samples (``config.batch``) so that task overhead stays small
next to a sample's few milliseconds; finished batches are appended to the
:class:`~parawire.study.store.ResultStore` as they arrive, in whatever order, and a
rerun skips every sample already on disk. Both back-ends call the same pure
:func:`parawire.study.sample.evaluate_batch`, so they produce identical rows.

A Dask scheduler is reached (:func:`connect`) before the table is created, so a wrong
address leaves no header-only table behind. Pool processes ignore Ctrl-C: it reaches
the whole process group, and only the parent should react (it cancels what is
pending and shuts the pool down), not every worker with a traceback of its own.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path

from parawire.errors import ParawireError
from parawire.study.config import StudyConfig
from parawire.study.sample import COLUMNS, evaluate_batch
from parawire.study.store import ResultStore

Batch = list[tuple[str, int, int]]


def batches(config: StudyConfig, done: set) -> list[Batch]:
    todo = [k for k in config.keys() if k not in done]
    return [todo[i : i + config.batch] for i in range(0, len(todo), config.batch)]


def ignore_interrupt() -> None:
    """Pool initializer: Ctrl-C is the parent's to handle (see the module's docstring)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _local(config_json: str, work: list[Batch], workers: int) -> Iterator[list[dict]]:
    with ProcessPoolExecutor(max_workers=workers, initializer=ignore_interrupt) as pool:
        pending: set[Future] = {pool.submit(evaluate_batch, config_json, b) for b in work}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    yield fut.result()
        finally:
            for fut in pending:
                fut.cancel()


def connect(address: str):  # type: ignore[no-untyped-def]
    """A Dask ``Client`` of the scheduler at ``address``; a one-line error when there is none."""
    try:
        from distributed import Client
    except ImportError:
        raise ParawireError(
            "--scheduler needs Dask distributed; install it with `pip install 'parawire[dask]'`"
        ) from None
    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ParawireError(f"--scheduler {address}: cannot reach a Dask scheduler ({exc})") from None


def _dask(config_json: str, work: list[Batch], client) -> Iterator[list[dict]]:  # type: ignore[no-untyped-def]
    from distributed import as_completed

    futures = client.map(evaluate_batch, [config_json] * len(work), work, pure=False)
    for fut in as_completed(futures):
        yield fut.result()


def open_store(config: StudyConfig, out: str | Path) -> ResultStore:
    """The study's table at ``out``, torn tail dropped and finished samples read; a table
    made with another fingerprint is refused (:meth:`StudyConfig.fingerprint`)."""
    return ResultStore.open(out, COLUMNS, rows_per_key=len(config.units), settings=config.fingerprint())


def run_study(
    config: StudyConfig,
    out: str | Path | ResultStore,
    *,
    workers: int | None = None,
    scheduler=None,  # type: ignore[no-untyped-def]
    on_batch: Callable[[int], None] | None = None,
) -> ResultStore:
    """Compute every sample not yet in ``out``; returns the store (all rows on disk).

    ``out`` is a path or a store already opened with :func:`open_store` (a caller that
    counts what is pending first then does not read the table a second time).
    ``scheduler``: a Dask scheduler's address, or a client from :func:`connect` (the
    caller closes it); the scheduler is reached before ``out`` is created.
    ``on_batch(n_samples)`` is called after each batch is safely on disk (progress bars).
    """
    client = connect(scheduler) if isinstance(scheduler, str) else scheduler
    try:
        store = out if isinstance(out, ResultStore) else open_store(config, out)
        _compute(config, store, workers, client, on_batch)
    finally:
        if isinstance(scheduler, str):
            client.close()
    return store


def _compute(config: StudyConfig, store: ResultStore, workers: int | None, client,  # type: ignore[no-untyped-def]
             on_batch: Callable[[int], None] | None) -> None:
    work = batches(config, store.done)
    if not work:
        return
    config_json = config.model_dump_json()
    if client is not None:
        results: Iterable[list[dict]] = _dask(config_json, work, client)
    elif (workers or os.cpu_count() or 1) == 1 or len(work) == 1:
        results = (evaluate_batch(config_json, b) for b in work)
    else:
        results = _local(config_json, work, workers or os.cpu_count() or 1)
    for rows in results:
        store.append(rows)
        if on_batch:
            on_batch(len({(r["generator"], r["nodes"], r["sample"]) for r in rows}))


def pending_samples(config: StudyConfig, store: ResultStore) -> tuple[int, int]:
    """(already done, total) samples for a progress bar that resumes where it stopped."""
    keys = config.keys()
    return len(store.done & set(keys)), len(keys)
