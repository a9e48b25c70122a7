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
outputs of the same local run are there at the same moment, so
:func:`~parawire.latency.calls.step_groups`
prepares them with one call (:attr:`StagedBlock.groups
<parawire.executor.runner.StagedBlock>`), which delays no step.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from parawire.executor.plan import UnitPlan
from parawire.latency.calls import fusable_runs


@dataclass(frozen=True)
class Segment:
    """``vertices`` in topological order; ``inputs``: the tensors it takes (other
    vertices' outputs, or SOURCE), in first-use order; ``outputs``: its vertices whose
    value is used outside it (sent, consumed by another local segment, or the logits)."""

    vertices: tuple[int, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def segments(unit: UnitPlan, output_vertex: int, staged: Collection[int] = ()) -> list[Segment]:
    """The unit's vertices cut into the longest runs the rules above allow
    (:func:`parawire.latency.calls.fusable_runs`, which the latency model counts too)."""
    sending = {v for v, to in unit.sends.items() if to}  # as Plan.build keeps them: non-empty
    runs = fusable_runs(unit.vertices, unit.preds, sending, output_vertex, staged)
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
