"""``parawire study grid --dry-run``: what a grid would compute, and about how long it takes.

The full grid runs for minutes to hours, so before starting it a user wants the count of
samples still missing from the table (after a resume), the table it would refuse (other
settings) and an estimate of the time. The estimate times one real sample per
(generator, vertices) cell in this process, after one untimed sample for the start-up
costs, and divides the cells' sums by the processes that would run them. Nothing is
written: the table is only read.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
from parawire.cli.printing import echo_json, print_table, table
from parawire.cli.progress import Progress, format_seconds


def done_keys(config, out: Path) -> set:
    """Samples ``out`` already holds whole (read only; a table it would refuse raises)."""
    from parawire.study.sample import COLUMNS
    from parawire.study.store import KEY, check_settings, read_rows

    if not out.exists() or out.stat().st_size == 0:
        return set()
    rows = read_rows(out, columns=COLUMNS)
    check_settings(out, config.fingerprint(), has_rows=bool(rows))
    counts: dict[tuple, int] = {}
    for row in rows:
        key = tuple(type_(row[c]) for type_, c in zip((str, int, int), KEY))
        counts[key] = counts.get(key, 0) + 1
    return {key for key, n in counts.items() if n >= len(config.units)}


def plan(config, out: Path, processes: int) -> dict:
    """Per cell: samples to compute, already there, seconds per sample measured here."""
    from parawire.calibration.local import get_profile
    from parawire.study.sample import evaluate

    done = done_keys(config, out)
    profile = get_profile(config.profile)
    cells = []
    with Progress() as progress:
        progress.step("timing one sample per cell")
        evaluate(config, config.generators[0], min(config.nodes), 0, profile)  # start-up costs
        for generator in config.generators:
            for nodes in config.nodes:
                keys = [(generator, nodes, s) for s in range(config.samples)]
                todo = [k for k in keys if k not in done]
                began = time.perf_counter()
                if todo:
                    evaluate(config, *todo[0], profile)
                seconds = time.perf_counter() - began
                cells.append({"generator": generator, "nodes": nodes, "todo": len(todo),
                              "done": len(keys) - len(todo), "seconds_per_sample": seconds if todo else None})
    work = sum(c["todo"] * (c["seconds_per_sample"] or 0) for c in cells)
    return {"table": out, "processes": processes, "cells": cells,
            "todo": sum(c["todo"] for c in cells), "done": sum(c["done"] for c in cells),
            "estimated_s": work / processes}


def show_plan(config, out: Path, workers: int | None, scheduler: str | None, as_json: bool) -> None:
    """Print the plan (``--json``: the same as one object)."""
    processes = 1 if scheduler else max(1, min(workers or os.cpu_count() or 1, len(config.keys())))
    found = plan(config, out, processes)
    if as_json:
        echo_json({**found, "scheduler": scheduler})
        return
    tab = table(f"study grid --dry-run ({out})", ["generator", "nodes", "to compute", "already there",
                                                  "s per sample"])
    for c in found["cells"]:
        per = "-" if c["seconds_per_sample"] is None else f"{c['seconds_per_sample']:.2f}"
        tab.add_row(c["generator"], str(c["nodes"]), str(c["todo"]), str(c["done"]), per)
    print_table(tab)
    where = "of worker time on the Dask cluster" if scheduler else f"on {processes} process{'es' * (processes > 1)}"
    click.echo(f"would compute {found['todo']} samples ({found['done']} already in {out}), units"
          f" {', '.join(map(str, config.units))} × ε {', '.join(map(str, config.eps))} each:"
          f" about {format_seconds(found['estimated_s'])} {where}; nothing was written")
