"""How long ``parawire run --local`` waits for its worker processes to start, and what it
says when they do not.

A worker process spends most of its start importing torch: a few seconds on an idle
machine, minutes on a loaded one (a 2-core machine at load average 15 took over 30 s).
So the start limit is ``--timeout`` stretched by the load per core (never below
``--timeout``), and a start that still runs out says so in one line naming ``--timeout``,
the time waited and the load, instead of a bare "did not start in time".
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from parawire.errors import ParawireError


def load_per_core() -> float:
    """The 1-minute load average per core (0 where the platform has none)."""
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        return 0.0


def start_timeout(timeout: float) -> float:
    """``timeout`` scaled by the load per core, at least ``timeout``."""
    return timeout * max(1.0, load_per_core())


@contextmanager
def starting_workers(units: int, timeout: float, limit: float) -> Iterator[None]:
    """Around the start of ``units`` local workers given ``limit`` seconds: an error raised
    once the limit is spent becomes the one line that names ``--timeout``."""
    began = time.monotonic()
    try:
        yield
    except ParawireError:
        waited = time.monotonic() - began
        if waited < limit:
            raise
        raise ParawireError(
            f"--timeout {timeout:g}: {units} local worker process{'es' if units > 1 else ''} did not start"
            f" within {waited:.0f} s (--timeout scaled by the load, {load_per_core():.1f} per core);"
            f" the machine is busy: give them longer, e.g. --timeout {max(2 * limit, 120):.0f}"
        ) from None
