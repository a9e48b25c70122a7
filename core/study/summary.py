"""Aggregate a study's tidy table into the numbers the paper reports, per generator × units."""

from __future__ import annotations

import statistics
from collections import defaultdict


def aggregate(rows: list[dict]) -> dict[tuple[str, int, int], dict[str, float]]:
    """Medians/means per (generator, nodes, units); latency also relative to FB's median."""
    cells: dict[tuple[str, int, int], list[dict]] = defaultdict(list)
    for r in rows:
        cells[(r["generator"], int(r["nodes"]), int(r["units"]))].append(r)
    return _relative_to_fb({key: _cell(group) for key, group in cells.items()})


# (output name, column, statistic, scale)
STATISTICS = (
    ("cs", "cs", statistics.median, 1.0),
    ("comm_mb", "km1_bytes", statistics.mean, 1e-6),
    ("latency_s", "latency_s", statistics.median, 1.0),
    ("latency_heft_s", "latency_heft_s", statistics.median, 1.0),
    ("lower_bound_s", "lower_bound_s", statistics.median, 1.0),
    ("serial_s", "serial_s", statistics.median, 1.0),
    ("entropy", "entropy", statistics.median, 1.0),
    ("params_m", "params", statistics.mean, 1e-6),
    ("depth", "depth", statistics.median, 1.0),
    ("balanced", "balanced", statistics.mean, 1.0),
)


def _cell(group: list[dict]) -> dict[str, float]:
    cell: dict[str, float] = {"samples": len(group)}
    for name, column, statistic, scale in STATISTICS:
        cell[name] = statistic([float(r[column]) for r in group]) * scale
    return cell


def _relative_to_fb(out: dict) -> dict:
    for (gen, nodes, units), cell in out.items():
        fb = out.get(("fb", nodes, units))
        cell["latency_vs_fb"] = cell["latency_s"] / fb["latency_s"] if fb else float("nan")
    return out
