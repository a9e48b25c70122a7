"""Aggregate a study's tidy table into the numbers the paper reports, per generator × units."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from rich.table import Table

from parawire.study.store import read_rows


def aggregate(rows: list[dict]) -> dict[tuple[str, int, int], dict[str, float]]:
    """Medians/means per (generator, nodes, units); latency also relative to FB's median."""
    cells: dict[tuple[str, int, int], list[dict]] = defaultdict(list)
    for r in rows:
        cells[(r["generator"], int(r["nodes"]), int(r["units"]))].append(r)
    out = {}
    for key, group in cells.items():
        col = lambda name: [float(r[name]) for r in group]  # noqa: E731
        out[key] = {
            "samples": len(group),
            "cs": statistics.median(col("cs")),
            "comm_mb": statistics.mean(col("km1_bytes")) / 1e6,
            "latency_s": statistics.median(col("latency_s")),
            "latency_heft_s": statistics.median(col("latency_heft_s")),
            "lower_bound_s": statistics.median(col("lower_bound_s")),
            "serial_s": statistics.median(col("serial_s")),
            "entropy": statistics.median(col("entropy")),
            "params_m": statistics.mean(col("params")) / 1e6,
            "depth": statistics.median(col("depth")),
            "balanced": statistics.mean(col("balanced")),
        }
    for (gen, nodes, units), cell in out.items():
        fb = out.get(("fb", nodes, units))
        cell["latency_vs_fb"] = cell["latency_s"] / fb["latency_s"] if fb else float("nan")
    return out


def summary_table(path: str | Path) -> Table:
    cells = aggregate(read_rows(path))
    table = Table(title=f"study summary ({path})")
    for col in ("generator", "nodes", "units", "n", "CS (median)", "comm MB (mean)",
                "latency s", "÷ FB", "HEFT s", "bound s", "entropy", "params M"):
        table.add_column(col, justify="right" if col != "generator" else "left")
    for (gen, nodes, units), c in sorted(cells.items()):
        table.add_row(
            gen, str(nodes), str(units), str(c["samples"]), f"{c['cs']:.2f}",
            f"{c['comm_mb']:.1f}", f"{c['latency_s']:.3f}", f"{c['latency_vs_fb']:.2f}",
            f"{c['latency_heft_s']:.3f}", f"{c['lower_bound_s']:.3f}", f"{c['entropy']:.3f}",
            f"{c['params_m']:.1f}",
        )
    return table
