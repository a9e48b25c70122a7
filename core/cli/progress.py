"""Progress of a long command, on stderr: a live bar with ETA in a terminal, lines when piped.

Any job that can take more than a couple of seconds says what it is doing before it
starts (:meth:`Progress.step`) and, when it can count, how far it is and how long is
left (:meth:`Progress.bar`). In a terminal that is rich's live display; piped into a
file or a CI log, a redrawn bar would be noise, so the same events become plain lines,
at most one per ``every`` seconds per bar plus the first and the last. Both go to
stderr, so stdout carries only results (tables, ``--json``) and stays scriptable.

Each bar ends with one summary line (``what: N units in T``) in both modes, so a log
reads the same whichever way it was produced. ``parawire -q`` silences all of it,
``--no-progress`` the bars and counts, ``-v`` prints a line a second
(:mod:`parawire.cli.verbosity`).

A wait that is neither counted nor worth a line in a log, such as the seconds of imports
before the plugins are loaded, is :meth:`Progress.busy`: a spinner in a terminal, erased
when done, so the output that follows (an ``error:`` line included) reads as if it had
never been there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from parawire.cli.verbosity import current
from rich.console import Console


def format_seconds(seconds: float) -> str:
    """``4.2 s``, ``3 min 05 s``, ``1 h 02 min``: short enough for a progress line."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Bar:
    """One counted job; advance it as work finishes. Made by :meth:`Progress.bar`."""

    def __init__(self, owner: Progress, text: str, total: int, unit: str, completed: int):
        self.owner, self.text, self.total, self.unit = owner, text, total, unit
        self.completed = self.start_completed = completed
        self.started = self.last_line = time.monotonic()
        self.task = None
        if not owner.bars:
            return
        if owner.live is not None:
            self.task = owner.live.add_task(text, total=total, completed=completed, unit=unit)
        else:
            owner.line(f"{text}: {self._count()}")

    def _count(self) -> str:
        return f"{self.completed}/{self.total}{' ' + self.unit if self.unit else ''}"

    def eta(self) -> float | None:
        """Seconds left at the rate seen so far in this run (resumed work not counted)."""
        done = self.completed - self.start_completed
        if done <= 0:
            return None
        return (time.monotonic() - self.started) / done * (self.total - self.completed)

    def advance(self, n: int = 1) -> None:
        self.update(self.completed + n)

    def update(self, completed: int, text: str | None = None) -> None:
        self.completed = min(completed, self.total)
        if text is not None:
            self.text = text
        if self.task is not None:
            self.owner.live.update(self.task, completed=self.completed, description=self.text)
            return
        if not self.owner.bars:
            return
        now = time.monotonic()
        if now - self.last_line >= self.owner.every and self.completed < self.total:
            self.last_line = now
            eta = self.eta()
            left = f", about {format_seconds(eta)} left" if eta is not None else ""
            self.owner.line(
                f"{self.text}: {self._count()} ({100 * self.completed / max(self.total, 1):.0f} %),"
                f" {format_seconds(now - self.started)} elapsed{left}"
            )

    def close(self) -> None:
        """Remove the live bar and print the one summary line."""
        if self.task is not None:
            self.owner.live.remove_task(self.task)
            self.task = None
        if not self.owner.bars:
            return
        took = format_seconds(time.monotonic() - self.started)
        if self.completed >= self.total:
            self.owner.line(f"{self.text}: {self._count()} in {took}")
        else:
            self.owner.line(f"{self.text}: stopped at {self._count()} after {took}")

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Progress:
    """The progress display of one command; use as a context manager."""

    def __init__(self, console: Console | None = None, every: float = 10.0):
        settings = current()
        self.console = console or Console(stderr=True)
        self.quiet, self.bars = settings.quiet, settings.bars
        self.verbose = settings.level > 0
        self.every = 1.0 if self.verbose else every
        self.live = None
        if self.console.is_terminal and self.bars:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import (
                Progress as Live,
            )

            self.live = Live(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), TextColumn("ETA"),
                TimeRemainingColumn(), console=self.console, transient=True,
            )

    def line(self, text: str) -> None:
        """One plain line (above the live bars in a terminal); nothing with ``-q``."""
        if self.quiet:
            return
        if self.live is not None:
            self.live.console.print(text, highlight=False, markup=False)
        else:
            self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def step(self, text: str) -> None:
        """Announce a phase that cannot be counted (``starting 4 workers…``)."""
        self.line(f"{text}…")

    def note(self, text: str) -> None:
        self.line(text)

    def bar(self, text: str, total: int, unit: str = "", completed: int = 0) -> Bar:
        return Bar(self, text, total, unit, completed)

    @contextmanager
    def timed(self, text: str) -> Iterator[None]:
        """A phase announced before and timed after: ``deploying…`` / ``deploying: 1.2 s``."""
        self.step(text)
        began = time.monotonic()
        yield
        self.line(f"{text}: {format_seconds(time.monotonic() - began)}")

    @contextmanager
    def busy(self, text: str) -> Iterator[None]:
        """A wait announced while it lasts: in a terminal a spinner, erased at the end (with
        ``--no-progress`` a phase line instead); piped, a line only with ``-v`` (a log gains
        nothing from ``loading…`` before each command); nothing with ``-q``. Inside another
        progress display, whose live bars a second live display would garble, a phase line."""
        if _SHOWN:
            _SHOWN[-1].step(text)
            yield
        elif self.console.is_terminal and self.bars:
            with self.console.status(f"{text}…"):
                yield
        else:
            if self.console.is_terminal or self.verbose:
                self.step(text)
            yield

    def __enter__(self) -> Progress:
        if self.live is not None:
            self.live.start()
            _SHOWN.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            _SHOWN.remove(self)
            self.live.stop()


#: The progress displays with live bars on the screen now (innermost last).
_SHOWN: list[Progress] = []
