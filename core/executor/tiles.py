"""Hybrid plans: the high-resolution prefix tile-parallel, the rest a graph partition.

:func:`hybrid_plan` turns a tile grid (:mod:`parawire.network.halo`) and a partition of
the untiled vertices into one :class:`~parawire.executor.plan.Plan` whose extra plan
vertices make the existing machinery carry the tiles unchanged:

* a **part** (``Tiling.part((map, source, destination))``) is a tile's own region of a
  shared map (a **piece** of it, ``Tiling.piece(a, t)``, when the map is on the frontier)
  or the halo another tile's later stages read of it. The parts of one stage of a tile
  unit come from one call (:func:`tile_blocks`: a
  :class:`~parawire.executor.segments.Segment` whose inputs are the unit's image crop,
  or its own regions and its neighbours' halos of the maps the stage reads), so the
  runner sends each as it sends any output, the worker accepts a part only from its
  tile's unit (``receives``), and the traffic counters see the halos' and gather's bytes;
* a frontier vertex ``f`` is held by every unit of ``Tiling.gathers[f]``, with the
  pieces as its inputs: its block puts the map together (:func:`parawire.network.tiled.gather`);
  untiled consumers read it as any local tensor; a reduced output's block on unit 0
  adds the partial sums and applies the classifier.

The coordinator sends each tile unit its crop (``Plan.input_of``). Λ of the plan
(``cut_bytes``) counts the halos and the pieces each time they cross, the untiled vertices' messages
(both as the plan's codecs encode them: a piece through its map's codec), and the
crops' bytes beyond one image (the halos, float32 like the image), as the
``"scatter"`` input policy counts the image copies beyond the first.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

import numpy as np
import torch
from parawire.errors import ParawireError
from parawire.executor.plan import Plan, Tiling, UnitPlan, plan_for
from parawire.executor.protocol import SOURCE
from parawire.executor.segments import Segment
from parawire.latency.model import simulate, vertex_seconds
from parawire.latency.tiles import crop_bytes, gathers, hybrid_latency, tile_seconds
from parawire.network.halo import TileGrid, tile_grid
from parawire.network.nn import ArchitectureNet
from parawire.network.tiled import TileStack, merge, read_parts, stage_parts
from parawire.pipeline.hybrid import choose_placement
from parawire.pipeline.wire import CodecCost, parts_wire, raw_plan, wire_of
from parawire.registry.codecs import RAW_PLAN, CodecChoice, CodecPlan
from parawire.registry.kinds import builtin
from parawire.score.hypergraph import image_bytes


def hybrid_plan(arch, grid: TileGrid, partition, units: int, profile=None, codecs: CodecPlan = RAW_PLAN,
                cost: Callable[[CodecChoice], CodecCost] | None = None) -> Plan:
    """The plan of ``grid`` on units ``0 .. grid.tiles − 1`` and the untiled vertices on
    ``partition`` (vertex → unit over ``units``; tiled vertices' entries are ignored),
    crossings through ``codecs``; with a ``profile``, the latency model's prediction
    (:func:`parawire.latency.tiles.hybrid_latency`, codecs at their calibrated ``cost``)."""
    dag = arch.dag
    part = np.asarray(partition, dtype=np.int64)
    n = dag.graph.number_of_nodes()
    if part.shape != (n,):
        raise ParawireError(f"partition has {part.size} entries; the DAG has {n} vertices")
    if grid.tiles > units:
        raise ParawireError(f"tile grid: {grid.rows}×{grid.cols} needs {grid.tiles} units; the plan has {units}")
    inside = set(grid.tiled)
    part = np.where(np.isin(np.arange(n), list(inside)), 0, part)
    if part.min() < 0 or part.max() >= units:
        raise ParawireError(f"partition uses units {part.min()}..{part.max()}; allowed 0..{units - 1}")
    parts = grid.parts
    tiling = Tiling(rows=grid.rows, cols=grid.cols, threshold=grid.threshold, tiled=list(grid.tiled),
                    frontier=list(grid.frontier), crops=list(grid.crops), gathers=gathers(arch, grid, part),
                    first_piece=n, depth=grid.depth, parts=[(p.map, p.src, p.dst) for p in parts],
                    preds={v: list(dag.preds[v]) for v in grid.tiled if v != dag.input})
    owner = [int(p) for p in part] + [p.src for p in parts]
    wire, pieces = tiled_wires(arch, grid, codecs, cost)
    index = {f: a for a, f in enumerate(grid.frontier)}
    plans, cut = [], int(crop_bytes(arch, grid).sum()) - image_bytes(arch)
    for u in range(units):
        mine: list[int] = []
        preds: dict[int, list[int]] = {}
        sends: dict[int, list[int]] = {}
        receives: dict[int, int] = {}
        for k in range(len(grid.stages) if u < grid.tiles else 0):
            reads = read_parts(grid, u, k)
            inputs = [SOURCE] * (k == 0) + [tiling.part(key) for key in reads]
            receives.update({tiling.part(key): key[1] for key in reads if key[2] is not None})
            for p in stage_parts(grid, u, k):
                v = tiling.part((p.map, p.src, p.dst))
                mine.append(v)
                preds[v] = inputs
                targets = [p.dst] if p.dst is not None else [w for w in tiling.gathers.get(p.map, ()) if w != u]
                if targets:  # a halo, or a piece of a gathered map
                    sends[v] = targets
                    cut += int(pieces.bytes[v - n]) * len(targets)
        for f in grid.frontier:
            if u in tiling.gathers[f]:
                mine.append(f)
                preds[f] = [tiling.piece(index[f], t) for t in range(grid.tiles)]
                receives.update({tiling.piece(index[f], t): t for t in range(grid.tiles) if t != u})
        for v in dag.order:
            if v in inside or part[v] != u:
                continue
            mine.append(v)
            preds[v] = list(dag.preds[v])
            receives.update({p: int(part[p]) for p in dag.preds[v] if p not in inside and part[p] != u})
            targets = sorted({int(part[s]) for s in dag.succs[v]} - {u})
            if targets:
                sends[v] = targets
                cut += int(wire.bytes[v]) * len(targets)
        plans.append(UnitPlan(unit=u, vertices=mine, preds=preds, sends=sends,
                              receives=dict(sorted(receives.items())), tiling=tiling))
    predicted = None if profile is None else float(hybrid_latency(arch, grid, part, profile, wire=wire,
                                                                        pieces=pieces))
    return Plan(units=units, partition=owner, output_vertex=dag.output, input_units=list(range(grid.tiles)),
                output_unit=int(part[dag.output]), unit_plans=plans, cut_bytes=cut,
                predicted_latency_s=predicted, tiling=tiling, codecs=codecs)


def tiled_wires(arch, grid: TileGrid, codecs: CodecPlan = RAW_PLAN,
                cost: Callable[[CodecChoice], CodecCost] | None = None):
    """(per-vertex wire, per-piece wire) of a tiling under ``codecs``."""
    return wire_of(arch, codecs, cost), parts_wire(arch, grid, codecs, cost)


def graph_part(unit: UnitPlan) -> UnitPlan:
    """The unit's untiled vertices alone, as a plain unit plan (what engines compile)."""
    if unit.tiling is None:
        return unit
    t = unit.tiling
    tiled = set(t.tiled)
    mine = [v for v in unit.vertices if v < t.first_piece and v not in tiled]
    return UnitPlan(unit=unit.unit, vertices=mine, preds={v: unit.preds[v] for v in mine},
                    sends={v: s for v, s in unit.sends.items() if v in mine},
                    receives={p: u for p, u in unit.receives.items() if p < t.first_piece})


def tiled_vertices_of(unit: UnitPlan) -> list[int]:
    """The tiled vertices a unit computes: all of them on a tile unit, none elsewhere."""
    t = unit.tiling
    return list(t.tiled) if t is not None and unit.unit < t.tiles else []


def unit_grid(net: ArchitectureNet, tiling: Tiling) -> TileGrid:
    """The grid of a plan's tiling, recomputed from the spec's layout and checked against the plan."""
    grid = tile_grid(net.arch.layout, tiling.rows, tiling.cols, tiling.threshold, tiling.depth)
    dag = net.arch.dag
    preds = {v: list(dag.preds[v]) for v in grid.tiled if v != dag.input}
    if not same_tiling(grid, tiling) or preds != tiling.preds:
        raise ParawireError("plan.tiling does not match the spec's layout; rebuild the plan")
    return grid


def same_tiling(grid: TileGrid, tiling: Tiling) -> bool:
    """Whether a plan's tiling is the grid a worker computes itself (tiled vertices,
    frontier, crops and parts): a worker runs only tiles it can check."""
    return (list(grid.tiled), list(grid.frontier), list(grid.crops), [(p.map, p.src, p.dst) for p in grid.parts]) == \
        (tiling.tiled, tiling.frontier, tiling.crops, [tuple(p) for p in tiling.parts])


def tile_blocks(net: ArchitectureNet, unit: UnitPlan, compile_module: Callable | None = None) -> Mapping:
    """The unit's tile call (image crop → its pieces) and one gather block per frontier map
    it holds. ``compile_module(module, example_inputs) -> callable`` (the engine's
    ``module`` hook, injected by the worker): the tile stack runs through it, exported
    once for this tile's crop shape; without it, in torch."""
    t = unit.tiling
    if t is None:
        return {}
    grid = unit_grid(net, t)
    blocks: dict = {}
    tile = unit.unit
    for k in range(len(grid.stages) if tile < t.tiles else 0):
        stack = TileStack(net, grid, tile, k)
        outputs = tuple(t.part((p.map, p.src, p.dst)) for p in stack.parts)
        inputs = (SOURCE,) * (k == 0) + tuple(t.part(key) for key in stack.reads)
        blocks[Segment(outputs, inputs, outputs)] = stage_call(stack, compile_module)
    for f in t.frontier:
        if f in unit.preds:
            blocks[f] = functools.partial(merge, net, grid, f)
    return blocks


def stage_call(stack, compile_module: Callable | None) -> Callable:  # type: ignore[no-untyped-def]
    """A stage's call on its inputs: through the engine's module hook, exported once for
    the shapes this tile's crop and parts have (``stack.input_shapes()``), or in torch.
    ``stack``: a tile stage of either kind of network."""
    if compile_module is None:
        return lambda inputs: list(stack(*inputs))
    call = compile_module(stack, tuple(torch.zeros(1, *shape) for shape in stack.input_shapes()))
    return lambda inputs: list(call(list(inputs)))


def placed_plan(arch, units: int, profile, placement: str = "partition", partitioner: str = builtin("multilevel"),
                eps: float = 0.03, params: dict | None = None, input_policy: str = "stem",
                codecs: CodecPlan = RAW_PLAN, cost: Callable[[CodecChoice], CodecCost] | None = None) -> Plan:
    """The plan of any ``--placement`` (:func:`parawire.pipeline.hybrid.choose_placement`),
    with the latency model's prediction; every crossing (a tiling's pieces included)
    through ``codecs``, at their calibrated ``cost``."""
    choice = choose_placement(arch, units, profile, placement, partitioner, eps, params, input_policy, codecs, cost)
    if choice.grid is None:
        return plan_for(arch, choice.partition, profile, units=units, input_policy=input_policy, codecs=codecs,
                        cost=cost)
    return hybrid_plan(arch, choice.grid, choice.partition, units, profile, codecs, cost)


def predicted_s(arch, plan: Plan, profile, source: bool = True,
                cost: Callable[[CodecChoice], CodecCost] | None = None) -> float:
    """The latency model's prediction of any plan; ``source``: end to end (the image's or
    crops' delivery and the logits' return), as a client measures it. A plan's codecs
    count with their calibrated ``cost``."""
    costs = arch.costs
    if plan.tiling is None:
        codecs = plan.codecs
        wire = None if raw_plan(codecs) else wire_of(arch, codecs, cost)
        return float(simulate(arch.dag, costs.flops, costs.out_bytes, np.asarray(plan.partition), profile,
                              policy="ready", input_policy=plan.input_policy,
                              source_bytes=image_bytes(arch) if source else None, params=costs.params,
                              wire=wire, scaled=costs.scaled))
    t = plan.tiling
    grid = arch.tile_grid(t.rows, t.cols, t.threshold, t.depth)
    wire, pieces = tiled_wires(arch, grid, plan.codecs, cost)
    return float(hybrid_latency(arch, grid, np.asarray(plan.partition[:t.first_piece]), profile, source=source,
                                wire=wire, pieces=pieces))


def plan_seconds(arch, plan: Plan, profile) -> list[float]:
    """The latency model's compute seconds per plan vertex, what a unit's task of those
    vertices should take (the testbed's per-unit breakdown): each untiled vertex's own;
    for a tiling, each stage call's seconds (:func:`parawire.latency.tiles.tile_seconds`,
    halo included) on the first part it sends, and nothing on the tiled vertices (a
    frontier vertex's id is then its gather, which computes nothing)."""
    costs = arch.costs
    seconds = vertex_seconds(arch.dag, costs.flops, costs.out_bytes, profile, costs.params).tolist()
    t = plan.tiling
    if t is None:
        return seconds
    grid = arch.tile_grid(t.rows, t.cols, t.threshold, t.depth)
    for v in grid.tiled:
        seconds[v] = 0.0
    stages = tile_seconds(arch, grid, profile)
    seconds += [0.0] * len(grid.parts)
    for tile in range(grid.tiles):
        for k in range(len(grid.stages)):
            first = stage_parts(grid, tile, k)
            if first:
                seconds[t.part((first[0].map, first[0].src, first[0].dst))] = float(stages[tile, k])
    return seconds


def tiling_summary(plan: Plan) -> dict | None:
    """What ``--json`` reports of a plan's tiling (None: no tiles): the grid, the threshold
    (map rows), the stage depth (None: one fused stage), how many vertices run
    tile-parallel, how many halos cross between stages, how many maps are gathered, and
    whether the output is reduced to partial sums."""
    t = plan.tiling
    if t is None:
        return None
    return {"grid": [t.rows, t.cols], "threshold": t.threshold, "depth": t.depth, "tiled_vertices": len(t.tiled),
            "halos": sum(dst is not None for _, _, dst in t.parts), "gathered_maps": len(t.frontier),
            "reduced": plan.output_vertex in t.tiled,
            "gather_units": sorted({u for us in t.gathers.values() for u in us})}
