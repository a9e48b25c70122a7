"""Runs of a unit's vertices that an engine may compute as one call, without delaying
any message.

A call into a runtime such as ONNX Runtime costs tens of microseconds beyond its
arithmetic (setting up the run, cold caches for a new session's state); a 40-vertex
network split in two pays it about sixty times per inference. Fusing vertices into
one call removes that cost only where it changes nothing the peers see:

* a segment's output to another unit (or the logits) is its **last** vertex, so every
  send still happens the moment its vertex is computed;
* a later vertex takes only tensors of the segment or tensors its first vertex takes,
  so the segment is ready exactly when its first vertex is: nothing in it waits longer;
* vertices are consecutive in the unit's topological order, so the runner's priority
  is unchanged;
* vertices whose aggregation scales inputs stay alone: their per-input steps run as
  each input arrives (:class:`~parawire.executor.runner.StagedBlock`).
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
    runs: list[list[int]] = []
    inputs: list[set[int]] = []  # what each run takes from outside itself
    for v in unit.vertices:
        preds = set(unit.preds[v])
        current = runs[-1] if runs else []
        joins = (
            bool(current)
            and not unit.sends.get(current[-1])
            and current[-1] != output_vertex
            and current[0] not in staged
            and v not in staged
            and preds <= set(current) | inputs[-1]
        )
        if joins:
            current.append(v)
        else:
            runs.append([v])
            inputs.append(preds)
    used_outside: dict[int, int] = {}
    where = {v: i for i, run in enumerate(runs) for v in run}
    for v in unit.vertices:
        for p in unit.preds[v]:
            if where.get(p) != where[v]:
                used_outside[p] = 1
    out = []
    for run in runs:
        inside = set(run)
        inputs = list(dict.fromkeys(p for v in run for p in unit.preds[v] if p not in inside))
        outputs = [v for v in run if v in used_outside or unit.sends.get(v) or v == output_vertex]
        out.append(Segment(tuple(run), tuple(inputs), tuple(outputs)))
    return out
