"""Counted, rate-limited one-line drops and refusals: what a worker does with a message it refuses.

Why rate-limited: every message from the network may be hostile, and a log line per bad
message would let a peer fill the disk or drown the lines that matter. Lines come in
classes (a dropped message, a refused deployment, a forgotten request…): of each class
at most one line is logged per :data:`WINDOW_S`; the others are counted, and the next
line of the class (or :meth:`RateLimitedLog.flush`, which an idle worker calls) says
how many were not shown. Every drop is also counted (``dropped`` in a worker's stats).
A drop is one line, never a traceback: the message is the sender's fault, not the worker's.
"""

from __future__ import annotations

import logging
import time

WINDOW_S = 1.0

DROPPED = "dropped a message"
"""The class of messages refused by :func:`~parawire.executor.protocol.decode` or by dispatch."""


class RateLimitedLog:
    """Warnings of ``where``, at most one line per class per ``window`` seconds."""

    def __init__(self, log: logging.Logger, where: str, window: float = WINDOW_S):
        self.log, self.where, self.window = log, where, window
        self._classes: dict[str, list] = {}  # class → [start of its window, lines not shown]

    def __call__(self, kind: str, detail: str) -> None:
        """One event of class ``kind`` (e.g. "refused a deployment"), ``detail`` saying what."""
        now = time.monotonic()
        state = self._classes.setdefault(kind, [-self.window, 0])
        if now - state[0] < self.window:
            state[1] += 1
            return
        hidden, state[:] = state[1], [now, 0]
        more = f" (and {hidden} more not shown)" if hidden else ""
        self.log.warning("%s %s: %s%s", self.where, kind, detail, more)

    def flush(self) -> None:
        """Log the count of lines not shown for every class whose window has passed."""
        now = time.monotonic()
        for kind, state in self._classes.items():
            if state[1] and now - state[0] >= self.window:
                self.log.warning("%s %s %d more times (not shown)", self.where, kind, state[1])
                state[:] = [now, 0]


class Drops(RateLimitedLog):
    """Count drops and log them through the class :data:`DROPPED` (or another one)."""

    def __init__(self, log: logging.Logger, where: str, window: float = WINDOW_S):
        super().__init__(log, where, window)
        self.count = 0

    def __call__(self, reason: str, kind: str = DROPPED) -> None:  # type: ignore[override]
        self.count += 1
        super().__call__(kind, reason)

    def note(self, kind: str, detail: str) -> None:
        """A rate-limited line that is not a dropped message (a refusal, a forgotten request)."""
        RateLimitedLog.__call__(self, kind, detail)


def describe(exc: BaseException) -> str:
    """One line for any exception: its type and the first line of its message."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__
