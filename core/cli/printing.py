"""What a command prints on stdout: tables people read, JSON scripts read.

Tables: rich squeezes a table into the terminal's width and, piped, into 80 columns, cutting
numbers to ``0.0…``; a number cut short is worse than no number. So tables made by
:func:`table` use a light frame (one space between columns, so a dozen short columns fit
in 80), keep numeric cells on one line, and :func:`print_table` prints a table that
needs more than the console's width at the width it needs instead of cutting it.

JSON: ``--json`` prints one document on stdout and nothing else, so ``parawire … --json |
jq`` always parses; :func:`echo_json` turns the values our results hold (paths, numpy
numbers, tuples, dataclasses) into plain JSON.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path

import click


def to_plain(value):
    """A JSON-ready copy of ``value`` (NaN/inf → null, which JSON has no other word for)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def echo_json(value) -> None:
    """Print ``value`` as one JSON document on stdout."""
    click.echo(json.dumps(to_plain(value)))


def json_option(what: str = "the rows"):
    """The ``--json`` flag every table-printing command shares (parameter ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help=f"print {what} as JSON on stdout")


def table(title: str | None, columns: Sequence[str], numeric: Sequence[str] | None = None):
    """A rich Table whose ``numeric`` columns (default: all but the first) are right-aligned
    and never wrapped; headers may hold line breaks to stay narrow. Print it with
    :func:`print_table`."""
    from rich import box
    from rich.table import Table

    numeric = set(columns[1:] if numeric is None else numeric)
    out = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, padding=0)
    for name in columns:
        if name in numeric:
            out.add_column(name, justify="right", no_wrap=True)
        else:
            out.add_column(name, overflow="fold")
    return out


def needed_width(tab, console) -> int:
    """Columns the table takes when nothing is folded or cut."""
    return console.measure(tab, options=console.options.update(max_width=100_000)).maximum


def print_table(tab, console=None) -> None:
    """Print on stdout at the console's width, or wider when the table needs it: a line
    that wraps in a narrow terminal still holds every digit; a cut number holds none."""
    from rich.console import Console

    console = console or Console()
    width = console.width
    needed = needed_width(tab, console)
    if needed > width:
        console.width = needed
    try:
        console.print(tab)
    finally:
        console.width = width
