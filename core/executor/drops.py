"""Counted, rate-limited one-line drops: what a worker does with a message it refuses.

Why rate-limited: every message from the network may be hostile, and a log line per bad
message would let a peer fill the disk or drown the lines that matter. Every drop is
counted (``dropped`` in a worker's stats); at most :data:`LINES_PER_WINDOW` lines are
logged per :data:`WINDOW_S`, and the next line says how many were not shown. A drop is
one line, never a traceback: the message is the sender's fault, not the worker's.
"""

from __future__ import annotations

import logging
import time

WINDOW_S = 1.0
LINES_PER_WINDOW = 10


class Drops:
    """Count drops and log them, one line each, at most ``lines`` per ``window`` seconds."""

    def __init__(self, log: logging.Logger, where: str, lines: int = LINES_PER_WINDOW, window: float = WINDOW_S):
        self.log, self.where = log, where
        self.lines, self.window = lines, window
        self.count = 0
        self._window_start = 0.0
        self._shown = 0
        self._hidden = 0

    def __call__(self, reason: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self._window_start >= self.window:
            if self._hidden:
                self.log.warning("%s dropped %d more messages (not shown)", self.where, self._hidden)
            self._window_start, self._shown, self._hidden = now, 0, 0
        if self._shown < self.lines:
            self._shown += 1
            self.log.warning("%s dropped a message: %s", self.where, reason)
        else:
            self._hidden += 1


def describe(exc: BaseException) -> str:
    """One line for any exception: its type and the first line of its message."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__
