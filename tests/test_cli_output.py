"""What the command line prints: tables keep every digit at 80 columns and in pipes,
JSON is plain, progress becomes plain lines with an ETA when not on a terminal."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
from parawire.cli.printing import echo_json, print_table, table
from parawire.cli.progress import Progress, format_seconds
from rich.console import Console

NUMBERS = ["1.39124", "74.7", "0.123456", "2.34", "0.12345", "45.6789"]


def render(tab, width: int = 80) -> str:
    console = Console(file=io.StringIO(), width=width)  # not a terminal: as when piped
    print_table(tab, console)
    return console.file.getvalue()


def test_numbers_are_never_cut_and_text_folds_to_80_columns():
    tab = table("summary", ["name", "note", *(f"c{i}" for i in range(len(NUMBERS)))],
                numeric=[f"c{i}" for i in range(len(NUMBERS))], fold=["note"])
    tab.add_row("dp/probabilistic", "a rather long remark that must fold", *NUMBERS)
    text = render(tab)
    assert all(number in text for number in NUMBERS) and "dp/probabilistic" in text and "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_a_table_whose_numbers_need_more_than_80_columns_is_printed_wider():
    wide = [f"{12345.678901 * (i + 1):.6f}" for i in range(8)]
    tab = table(None, ["name", *(f"c{i}" for i in range(8))])
    tab.add_row("x", *wide)
    text = render(tab)
    assert all(number in text for number in wide)
    assert max(len(line) for line in text.splitlines()) > 80


def test_json_is_plain(capsys):
    echo_json({"path": Path("a/b.csv"), "n": np.int64(3), "x": np.float32(0.5), "nan": math.nan,
               "rows": (1, 2)})
    assert json.loads(capsys.readouterr().out) == {"path": "a/b.csv", "n": 3, "x": 0.5, "nan": None,
                                                   "rows": [1, 2]}


def test_progress_without_a_terminal_is_plain_lines_with_eta():
    console = Console(file=io.StringIO(), width=200)
    with Progress(console, every=0) as progress:
        progress.step("starting 2 workers")
        with progress.bar("study", 4, "samples", completed=1) as bar:
            bar.advance()
            bar.advance(2)
    lines = console.file.getvalue().splitlines()
    assert lines[0] == "starting 2 workers…"
    assert lines[1] == "study: 1/4 samples"
    assert lines[2].startswith("study: 2/4 samples (50 %),") and "left" in lines[2]
    assert lines[3].startswith("study: 4/4 samples in ")
    assert len(lines) == 4


def test_seconds_read_short():
    assert [format_seconds(s) for s in (4.25, 185, 3725)] == ["4.2 s", "3 min 05 s", "1 h 02 min"]
