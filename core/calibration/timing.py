"""Wall-clock timing of repeated calls, as every command that reports milliseconds does it."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

MAX_TIMED_RUNS = 10_000
"""Most timed inferences a command takes per configuration (``run --runs``, ``testbed run
--runs``): 10,000 are minutes locally and hours on the testbed at 224 px; more is a typo
that would time for ever (10**20 was accepted and ran until interrupted)."""


def timings(fn: Callable[[], object], n: int, warmup: int = 3,
            on_run: Callable[[], None] | None = None) -> list[float]:
    """Seconds per call, ``n`` calls after ``warmup`` untimed ones; ``on_run`` after each."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
        if on_run is not None:
            on_run()
    return out


def summary(times: list[float]) -> tuple[float, float]:
    """Median and 90th percentile."""
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
