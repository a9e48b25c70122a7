"""Engine calls: which runs of a unit's vertices one engine call computes, and how many
calls each vertex starts.

A call into a runtime such as ONNX Runtime costs far more than its arithmetic on small
tensors, so a worker fuses a unit's vertices into the longest runs that delay no
message (:mod:`parawire.executor.segments` gives the rules and builds the runs it
deploys from :func:`fusable_runs`). The rules depend on the placement only, so the
latency model counts the same calls (:func:`engine_calls`) and charges each the
profile's ``call_s``: measured on the testbed's devices, a unit's tasks took 0.95 × the
model's compute + 0.16 ms per call, where one factor for every split network
(the ``split_slowdown`` it replaces) was off by 16 % in median and by up to 2× on
networks cut into many calls (docs/testbed.md, fourth round).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np

from parawire.graph.dag import Dag


def fusable_runs(vertices: Sequence[int], preds: Mapping[int, Sequence[int]], sends: Collection[int],
                 output: int, staged: Collection[int] = ()) -> list[list[int]]:
    """A unit's ``vertices`` (topological order) cut into the longest runs one call may
    compute: a run ends at a vertex whose output leaves the unit (``sends``) or is the
    logits; a vertex joins only if every input it takes is in the run or was there when
    the run's first vertex could start; a ``staged`` vertex (one that scales its inputs
    step by step as they arrive) that would start a run stays alone."""
    local = set(vertices)
    before: dict[int, set[int]] = {}  # v → the unit's vertices from which v is reachable inside the unit
    for v in vertices:
        before[v] = {q for p in preds[v] if p in local for q in (p, *before[p])}
    runs: list[list[int]] = []
    ready: list[set[int]] = []  # per run: the tensors present whenever its first vertex can run
    for v in vertices:
        current = runs[-1] if runs else []
        joins = (
            bool(current)
            and current[-1] not in sends
            and current[-1] != output
            and current[0] not in staged
            and set(preds[v]) <= set(current) | ready[-1]
        )
        if joins:
            current.append(v)
        else:
            runs.append([v])
            ready.append(set(preds[v]) | before[v])
    return runs


def step_groups(runs: Sequence[Sequence[int]], preds: Sequence[int],
                positions: Collection[int]) -> list[tuple[int, ...]]:
    """Positions among ``positions`` (a staged vertex's scaled inputs, whose producers
    are ``preds``) whose tensors are outputs of one local run, grouped by run: inputs
    there at the same moment, prepared by one call. Only groups of two or more (a lone
    step gains nothing from grouping)."""
    run_of = {v: i for i, run in enumerate(runs) for v in run}
    groups: dict[int, list[int]] = {}
    for j in sorted(positions):
        if preds[j] in run_of:
            groups.setdefault(run_of[preds[j]], []).append(j)
    return [tuple(g) for g in groups.values() if len(g) > 1]


def engine_calls(dag: Dag, partition: Sequence[int] | np.ndarray, scaled: Mapping[int, Collection[int]] | None = None,
                 input_policy: str = "stem") -> np.ndarray:
    """Engine calls per inference each vertex starts under ``partition``: one per run of
    :func:`fusable_runs`, at its first vertex; a staged vertex alone (one whose inputs
    ``scaled[v]`` lists pass a scaling block) also makes one call per scaled input, or per
    group of them (:func:`step_groups`). Under the ``"scatter"`` policy every input unit
    runs the stem; the count is one copy's, as the model charges each copy its compute."""
    part = [int(p) for p in partition]
    scaled = scaled or {}
    stem = dag.input
    scatter = input_policy == "scatter"
    stem_units = {part[w] for w in dag.succs[stem]} if scatter else {part[stem]}
    sends = {v for v in dag.order if {part[w] for w in dag.succs[v]} - {part[v]}}
    if scatter:
        sends.discard(stem)
    calls = np.zeros(len(part), dtype=np.int64)
    for u in sorted(set(part) | stem_units):
        mine = [v for v in dag.order if (u in stem_units if v == stem and scatter else part[v] == u)]
        preds = {v: list(dag.preds[v]) for v in mine}
        runs = fusable_runs(mine, preds, sends, dag.output, staged={v for v in mine if scaled.get(v)})
        for run in runs:
            first = run[0]
            count = 1
            if len(run) == 1 and scaled.get(first):
                positions = [j for j, p in enumerate(preds[first]) if p in scaled[first]]
                groups = step_groups(runs, preds[first], positions)
                count += len(groups) + len(positions) - sum(len(g) for g in groups)
            calls[first] = count
    return calls
