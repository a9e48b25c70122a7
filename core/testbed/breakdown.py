"""Per-unit compute as the workers saw it, beside the latency model's.

Each worker reports, per task (one vertex, or a fused run of vertices), the wall and
thread-CPU seconds it spent computing and the number of calls since its deployment
(``tasks`` in its STATS reply). The difference of two such reports over ``n``
inferences is the unit's compute per inference; next to the model's seconds for the
same vertices it shows which unit, and which task, a wrong prediction comes from.
Wall time includes the CFS quota's throttling inside a call; CPU time does not.
"""

from __future__ import annotations

from collections.abc import Sequence


def task_times(per_unit: Sequence[dict]) -> dict[int, dict[tuple[int, ...], list[float]]]:
    """``{unit: {vertices: [wall s, cpu s, calls]}}`` from a stats reply's per-unit bodies."""
    out: dict[int, dict[tuple[int, ...], list[float]]] = {}
    for body in per_unit:
        out[body["unit"]] = {tuple(t[0]): [float(x) for x in t[1:]] for t in body.get("tasks", ())}
    return out


def task_totals(before: Sequence[dict], after: Sequence[dict]) -> tuple[float, float]:
    """(thread-CPU seconds, engine calls) all units' tasks spent between two stats
    replies' per-unit bodies."""
    old, new = task_times(before), task_times(after)
    cpu = calls = 0.0
    for unit, tasks in new.items():
        for vertices, (_, spent, made) in tasks.items():
            _, spent0, made0 = old.get(unit, {}).get(vertices, (0.0, 0.0, 0.0))
            cpu, calls = cpu + spent - spent0, calls + made - made0
    return cpu, calls


def worst_first(tasks: Sequence[dict]) -> list[dict]:
    """Tasks ordered by how far their wall time is from the model's, largest first."""
    return sorted(tasks, key=lambda t: -abs(t["wall_ms"] - (t["model_ms"] or 0.0)))


def compare(before: Sequence[dict], after: Sequence[dict], inferences: int,
            model_s: Sequence[float]) -> list[dict]:
    """Per unit, per inference: measured wall and CPU ms of its tasks, calls, and the
    model's ms for the same vertices (``model_s``: seconds per plan vertex,
    :func:`parawire.executor.tiles.plan_seconds`, a tile's stage call on its first part;
    None for a task of vertices it does not cover, and the unit's sum leaves them out);
    with the tasks themselves, largest error first."""
    old, new = task_times(before), task_times(after)
    rows = []
    for unit in sorted(new):
        tasks = []
        for vertices, (wall, cpu, calls) in new[unit].items():
            w0, c0, n0 = old.get(unit, {}).get(vertices, (0.0, 0.0, 0))
            model = (round(sum(model_s[v] for v in vertices) * 1e3, 3)
                     if all(0 <= v < len(model_s) for v in vertices) else None)
            tasks.append({"vertices": list(vertices), "wall_ms": round((wall - w0) / inferences * 1e3, 3),
                          "cpu_ms": round((cpu - c0) / inferences * 1e3, 3),
                          "calls": round((calls - n0) / inferences, 2), "model_ms": model})
        tasks = worst_first(tasks)
        rows.append({"unit": unit, "wall_ms": round(sum(t["wall_ms"] for t in tasks), 3),
                     "cpu_ms": round(sum(t["cpu_ms"] for t in tasks), 3),
                     "calls": round(sum(t["calls"] for t in tasks), 2),
                     "model_ms": round(sum(t["model_ms"] or 0.0 for t in tasks), 3), "tasks": tasks})
    return rows


CPU_BOUND = 0.8
"""Share of the measured latency from which a device's CPU (at its quota) or one link's
busy time is called what bounds a point."""


def bottleneck(kernel: Sequence[dict], measured_ms: float, cpu: float) -> str:
    """One line on what bounds a multi-device point, from its devices' counters
    (``point["kernel"]``): the device whose process CPU, spent at its ``cpu`` share of a
    core, is the largest part of the latency, and the busiest link direction; then
    which of the two reaches :data:`CPU_BOUND` of it, or neither (the rest is waiting:
    a link that starts late, another device's result). Why: a point that does not gain is
    either compute split too finely for the CPU it costs, or bytes the links cannot
    carry, and the fixes differ (fewer calls and messages, or fewer bytes: a codec, a
    coarser partition)."""
    busiest = max(kernel, key=lambda k: k["process_cpu_ms"])
    cpu_ms = busiest["process_cpu_ms"] / min(cpu, 1.0)
    port, way = max(((k, d) for k in kernel for d in ("out", "in")), key=lambda kd: kd[0][kd[1]]["busy_ms"])
    link_ms = port[way]["busy_ms"]
    on_cpu, on_link = cpu_ms / measured_ms, link_ms / measured_ms
    verdict = ("CPU-bound" if on_cpu >= CPU_BOUND and on_cpu >= on_link else "link-bound" if on_link >= CPU_BOUND
               else f"neither fills it: {1 - max(on_cpu, on_link):.0%} is waiting (a link that starts late,"
                    " another device's result)")
    return (f"device {busiest['device']}'s CPU {busiest['process_cpu_ms']:.1f} ms is {cpu_ms:.0f} ms at"
            f" {min(cpu, 1.0):g} core ({on_cpu:.0%} of {measured_ms:.0f} ms); device {port['device']}'s link"
            f" {way} is busy {link_ms:.0f} ms ({on_link:.0%}): {verdict}")
