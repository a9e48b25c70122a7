"""Runs of a unit's vertices that an engine may compute as one call, without delaying
any message.

A call into a runtime such as ONNX Runtime costs far more than its arithmetic on
these small tensors: on DP-40 (3×32×32) the 41 calls of one unit holding every vertex
took 8.2 ms inside ORT against 5.0 ms for one session of the same vertices (about
75 µs per extra call: set-up of each run, and the cold caches of each session's own
arena). Fusing vertices into one call removes that cost only where it changes nothing
the peers see:

* a segment's output to another unit (or the logits) is its **last** vertex, so every
  send still happens the moment its vertex is computed;
* a later vertex takes only tensors of the segment, tensors the first vertex takes, or
  outputs of the unit's own vertices from which the first vertex is reachable through
  the unit (those were computed before the first vertex could run): so the segment is
  ready exactly when its first vertex is, and nothing in it waits longer;
* vertices are consecutive in the unit's topological order, so the runner's priority
  is unchanged;
* a vertex whose aggregation scales inputs runs alone when it would *start* a segment:
  its per-input scaling steps then run as each input arrives
  (:class:`~parawire.executor.runner.StagedBlock`). Inside a segment it is fused whole,
  scaling included: by the rule above all its inputs are there when the segment starts,
  so there is nothing to overlap.

A unit with no input from another unit is therefore one call.

The staged vertices left alone still make one call per scaled input. Inputs that are
outputs of the same local run are there at the same moment, so :func:`step_groups`
prepares them with one call (:attr:`StagedBlock.groups
<parawire.executor.runner.StagedBlock>`), which delays no step.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from parawire.executor.plan import UnitPlan


@dataclass(frozen=True)
class Segment:
    """``vertices`` in topological order; ``inputs``: the tensors it takes (other
    vertices' outputs, or SOURCE), in first-use order; ``outputs``: its vertices whose
    value is used outside it (sent, consumed by another local segment, or the logits)."""

    vertices: tuple[int, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def segments(unit: UnitPlan, output_vertex: int, staged: Collection[int] = ()) -> list[Segment]:
    """The unit's vertices cut into the longest runs the rules above allow."""
    local = set(unit.vertices)
    before: dict[int, set[int]] = {}  # v → the unit's vertices from which v is reachable inside the unit
    for v in unit.vertices:
        before[v] = {q for p in unit.preds[v] if p in local for q in (p, *before[p])}
    runs: list[list[int]] = []
    ready: list[set[int]] = []  # per run: the tensors present whenever its first vertex can run
    for v in unit.vertices:
        current = runs[-1] if runs else []
        joins = (
            bool(current)
            and not unit.sends.get(current[-1])
            and current[-1] != output_vertex
            and current[0] not in staged
            and set(unit.preds[v]) <= set(current) | ready[-1]
        )
        if joins:
            current.append(v)
        else:
            runs.append([v])
            ready.append(set(unit.preds[v]) | before[v])
    used_outside: set[int] = set()
    where = {v: i for i, run in enumerate(runs) for v in run}
    for v in unit.vertices:
        for p in unit.preds[v]:
            if where.get(p) != where[v]:
                used_outside.add(p)
    out = []
    for run in runs:
        inside = set(run)
        inputs = list(dict.fromkeys(p for v in run for p in unit.preds[v] if p not in inside))
        outputs = [v for v in run if v in used_outside or unit.sends.get(v) or v == output_vertex]
        out.append(Segment(tuple(run), tuple(inputs), tuple(outputs)))
    return out


def step_groups(runs: list[Segment], vertex: int, preds: list[int], positions: Collection[int]) -> list[tuple[int, ...]]:
    """Positions among ``positions`` (staged inputs of ``vertex``, whose inputs are
    ``preds``) whose tensors are outputs of one local run, grouped by run; only groups
    of two or more (a lone step gains nothing from grouping)."""
    run_of = {v: i for i, run in enumerate(runs) for v in run.vertices}
    groups: dict[int, list[int]] = {}
    for j in sorted(positions):
        if preds[j] in run_of:
            groups.setdefault(run_of[preds[j]], []).append(j)
    return [tuple(g) for g in groups.values() if len(g) > 1]
