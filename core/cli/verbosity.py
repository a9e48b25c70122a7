"""``-q/--quiet``, ``-v/--verbose`` and ``--no-progress``: how much a command says on stderr.

They are options of ``parawire`` itself (``parawire -q study grid``), as git and pip
take them, so every command honours them without declaring them: the root stores a
:class:`Verbosity` in the click context's ``meta`` (shared with every subcommand's
context) and :class:`~parawire.cli.progress.Progress` reads it. Results on stdout
(tables, ``--json``) and ``error:`` lines are never silenced.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import click

KEY = "parawire.verbosity"


@dataclass(frozen=True)
class Verbosity:
    """``level`` −1 quiet (errors only), 0 normal, 1+ verbose (progress every second,
    parawire's log at INFO); ``bars``: counted progress shown (``--no-progress``: no)."""

    level: int = 0
    bars: bool = True

    @property
    def quiet(self) -> bool:
        return self.level < 0


def current() -> Verbosity:
    """The settings of the command running now (defaults outside a command)."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(KEY, Verbosity()) if ctx is not None else Verbosity()


def _store(ctx: click.Context, param: click.Parameter, value) -> None:  # type: ignore[no-untyped-def]
    settings = ctx.meta.get(KEY, Verbosity())
    if param.name == "quiet" and value:
        settings = replace(settings, level=-1, bars=False)
    elif param.name == "verbose" and value and not settings.quiet:
        settings = replace(settings, level=value)
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    elif param.name == "no_progress" and value:
        settings = replace(settings, bars=False)
    ctx.meta[KEY] = settings


def verbosity_options(command):  # type: ignore[no-untyped-def]
    """Add the three options to the root command."""
    options = [
        click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_store,
                     help="print results and errors only, no progress on stderr"),
        click.option("-v", "--verbose", count=True, expose_value=False, callback=_store,
                     help="more progress (a line a second when piped) and parawire's log"),
        click.option("--no-progress", is_flag=True, expose_value=False, callback=_store,
                     help="no progress bars or counts (phases and notes still shown)"),
    ]
    for option in reversed(options):
        command = option(command)
    return command
