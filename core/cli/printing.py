"""What a command prints on stdout: tables people read, JSON scripts read.

Tables: rich squeezes a table into the terminal's width and, piped, into 80 columns, cutting
numbers to ``0.0…``; a number cut short is worse than no number. So tables made by
:func:`table` use a light frame (one space between columns, so a dozen short columns fit
in 80), keep numbers and names on one line and fold only prose, and :func:`print_table`
prints a table whose cells need more than the console's width at the width they need
instead of cutting them.

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


def table(title: str | None, columns: Sequence[str], numeric: Sequence[str] | None = None,
          fold: Sequence[str] = ()):
    """A rich Table for :func:`print_table`: ``numeric`` columns (default: all but the
    first) are right-aligned; only the ``fold`` columns (prose: descriptions, parameter
    lists) may wrap, every other cell (numbers, names) stays whole on its line. Headers
    may hold line breaks to stay narrow."""
    from rich import box
    from rich.table import Table

    numeric = set(columns[1:] if numeric is None else numeric)
    out = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, padding=0)
    for name in columns:
        if name in fold:
            out.add_column(name, overflow="fold")
        else:
            out.add_column(name, justify="right" if name in numeric else "left", no_wrap=True)
    return out


#: Columns a folding column may shrink to before the table is widened instead.
TEXT_MIN = 8


def needed_width(tab) -> int:
    """The narrowest the table can be printed without cutting a cell: every no-wrap column
    at its widest cell or header line, folding columns at TEXT_MIN."""
    from rich.text import Text

    def widest(column) -> int:
        lines = [*str(column.header).splitlines()]
        for cell in column._cells:
            lines += str(cell).splitlines()
        return max((Text.from_markup(line).cell_len for line in lines), default=1)

    widths = [widest(c) if c.no_wrap else min(TEXT_MIN, widest(c)) for c in tab.columns]
    return sum(widths) + max(len(widths) - 1, 0)


def print_table(tab, console=None) -> None:
    """Print on stdout at the console's width (80 when piped), text columns folded to fit;
    wider only when its numbers need it: a line that wraps in a narrow terminal still holds
    every digit, a cut number holds none."""
    from rich.console import Console

    console = console or Console()
    width = console.width
    needed = needed_width(tab)
    if needed > width:
        console.width = needed
    try:
        console.print(tab)
    finally:
        console.width = width


def width_table(stats):
    """Figure 10's histogram as text: one bar per depth level."""
    from rich.table import Table

    table = Table(title="width per depth level")
    for column in ("level", "width", ""):
        table.add_column(column)
    for level, width in enumerate(stats.widths):
        table.add_row(str(level), str(width), "█" * width)
    return table
