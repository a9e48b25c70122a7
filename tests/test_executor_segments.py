"""Segments: the runs of a unit's vertices a worker may fuse into one engine call."""

from __future__ import annotations

import pytest
from executor_real import GENERATORS, case
from parawire.executor.segments import segments
from parawire.pipeline.build import build_architecture


def reached_from(unit, first: int) -> set[int]:
    """The unit's vertices from which ``first`` is reachable through the unit's own edges."""
    local, seen, todo = set(unit.vertices), set(), [first]
    while todo:
        for p in unit.preds[todo.pop()]:
            if p in local and p not in seen:
                seen.add(p)
                todo.append(p)
    return seen


@pytest.mark.parametrize("generator", GENERATORS)
@pytest.mark.parametrize("units", [2, 4])
def test_segments_cover_the_unit_in_order_and_delay_no_message(generator, units):
    spec, plan, _, _ = case(generator, units)
    staged = set(build_architecture(spec).layout.scaling)
    fused = 0
    for unit in plan.unit_plans:
        segs = segments(unit, plan.output_vertex, staged)
        assert [v for s in segs for v in s.vertices] == unit.vertices
        where = {v: i for i, s in enumerate(segs) for v in s.vertices}
        for i, seg in enumerate(segs):
            first, inside = seg.vertices[0], set(seg.vertices)
            fused += len(seg.vertices) > 1
            for v in seg.vertices[:-1]:  # only the last vertex may send or be the logits
                assert not unit.sends.get(v) and v != plan.output_vertex
            computed = reached_from(unit, first)  # the unit's vertices done before `first` can run
            for v in seg.vertices[1:]:  # nothing waits longer than the first vertex
                assert first not in staged
                assert set(unit.preds[v]) <= inside | set(unit.preds[first]) | computed
            assert set(seg.inputs) == {p for v in seg.vertices for p in unit.preds[v]} - inside
            used_elsewhere = {p for v in unit.vertices for p in unit.preds[v] if where.get(p) == i and where[v] != i}
            must = used_elsewhere | {v for v in seg.vertices if unit.sends.get(v) or v == plan.output_vertex}
            assert set(seg.outputs) == must
    if generator == "chain":
        assert fused  # a chain split in units fuses its runs


@pytest.mark.parametrize("generator", GENERATORS)
def test_a_unit_with_no_input_from_another_unit_is_one_call(generator):
    # Staged vertices inside fuse whole (their inputs are all there when the run starts).
    spec, plan, _, _ = case(generator, 1)
    (unit,) = plan.unit_plans
    (seg,) = segments(unit, plan.output_vertex, set(build_architecture(spec).layout.scaling))
    assert seg.vertices == tuple(unit.vertices)
    assert seg.outputs == (plan.output_vertex,)
