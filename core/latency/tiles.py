"""Predicted latency of a hybrid placement: a tiled prefix, then the graph partition.

The executor runs a tiling (:mod:`parawire.network.halo`) as: the coordinator sends each
tile unit its crop of the image; each runs the whole tiled prefix on its boxes in one
call; its part of every frontier map goes to each unit that gathers that map; the
untiled vertices then run as under any partition. This module predicts exactly that
with :func:`parawire.latency.model.simulate`, on an *expanded* DAG with the same
messages and the same compute:

* a source vertex (the image, under the ``"scatter"`` input policy: every tile unit
  receives it from the coordinator's port, one after another; each is charged the
  largest crop's bytes);
* one **tile** vertex per (tile unit, stage): the sum over the stage's vertices of their
  :meth:`DeviceProfile.compute_s` with MACs and input bytes scaled by the box's share of
  the map (so the halo's extra rows and columns are paid), weights and fixed costs whole
  (each unit reads every weight of the prefix);
* one **part** vertex per (shared map, tile) and per halo (map, source, destination):
  no compute, its bytes; a halo feeds the destination's stages that read the map (a
  message), a tile's own region its own later stages (local) and the gathers;
* one **gather** vertex per (frontier map, unit that needs it), whose inputs are that
  map's pieces (pieces from other units are messages; one's own is not); a reduced
  output's gather on unit 0 is the end (the classifier's cost is negligible);
* every untiled vertex with its usual cost, reading the gather on its own unit.

Codecs (:mod:`parawire.latency.wire`) apply to the pieces and to the untiled vertices'
messages as to any crossing: a piece is encoded once on its tile unit when it goes to
another unit and decoded on each receiver; the crops stay float32 (the image always
travels raw; a halo goes through its map's codec like a piece). The caller hands both wires down (``wire`` per vertex, ``pieces`` per
piece), as :func:`parawire.pipeline.wire.tiled_wire` computes them.

``simulate`` is given the seconds directly (MACs = seconds × rate, the profile's other
compute terms zeroed), so one code path books every message and every idle port.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from parawire.graph.dag import Dag
from parawire.latency.model import DeviceProfile, Trace, simulate, vertex_seconds
from parawire.latency.wire import Wire, wire_or_raw
from parawire.network.cost import FLOAT32_BYTES
from parawire.network.halo import TileGrid, aggregated_box, area, input_box, map_size


def tile_seconds(arch, grid: TileGrid, profile: DeviceProfile) -> np.ndarray:
    """Seconds each tile unit computes each stage of the tiled prefix (halo included):
    ``[tile, stage]``."""
    costs, dag = arch.costs, arch.dag
    whole = np.array([int(s[1]) * int(s[2]) for s in arch.out_shapes], dtype=np.float64)
    if grid.reduced:
        whole[dag.output] = np.prod(map_size(arch.layout, dag.output))
    in_bytes = np.array([sum(int(costs.out_bytes[p]) for p in dag.preds[v]) for v in range(len(whole))], float)
    inputs = np.array([max(len(dag.preds[v]) - 1, 0) for v in range(len(whole))], float)
    stages = grid.stages
    out = np.zeros((grid.tiles, len(stages)))
    for t, boxes in enumerate(grid.boxes):
        for k, members in enumerate(stages):
            v = np.array(members)
            share = np.array([area(boxes[u]) for u in members]) / whole[v]
            out[t, k] = profile.compute_s(costs.flops[v] * share, inputs[v], in_bytes[v] * share,
                                          costs.params[v] * FLOAT32_BYTES).sum()
            if profile.memory_bytes_per_s is not None:
                out[t, k] += copied_bytes(arch, grid, t, k) / profile.memory_bytes_per_s
    return out


def copied_bytes(arch, grid: TileGrid, tile: int, k: int) -> int:
    """Bytes a stage call of ``tile`` copies beyond its vertices' own work: its inputs (the
    crop, the assembled boxes it reads) into the engine's layout and its parts out of it,
    and every cut of a box larger than its consumer reads.

    Why: a whole network converts its image into ONNX Runtime's blocked layout once and
    its maps stay there; a stage call converts what it reads and what it sends each time,
    and at depth 1 FB-40's tiles made 37 calls of about 1.6 MB each. On the testbed the
    tile units computed 53–58 ms of CPU where the vertices alone were 25 ms.

    An imported model's tile runs its traced prefix unchanged on the crop
    (:mod:`parawire.models.tiling`, one stage): it copies the crop in and its own regions
    of the frontier maps out, and cuts no box inside (no ``layout`` to cut by)."""
    dag = arch.dag
    channels = arch.out_shapes[:, 0]
    total = 0
    if k == 0:
        total += int(arch.spec.input_shape[0]) * area(grid.crops[tile])
    total += sum(int(channels[m]) * area(grid.needs[tile][m]) for m in grid.reads[k])
    total += sum(int(channels[p.map]) * area(p.box) for p in grid.parts if p.src == tile and p.map in grid.stages[k]
                 and p.map != dag.output)
    layout = getattr(arch, "layout", None)
    if layout is not None:  # parawire's own blocks cut each input box to what their conv reads
        boxes = dict(grid.boxes[tile])
        boxes.update({m: grid.needs[tile][m] for m in grid.reads[k]})
        for v in grid.stages[k]:
            if v == dag.input:
                continue
            agg = aggregated_box(layout, v, boxes[v])
            total += sum(int(channels[p]) * area(want) for p in dag.preds[v]
                         if boxes[p] != (want := input_box(layout, v, p, agg)))
    return total * FLOAT32_BYTES


def part_shapes(arch, grid: TileGrid) -> list[tuple[int, int, int, int]]:
    """Each part as a tile unit sends it, ``(1, C, h, w)``, in :attr:`TileGrid.parts`
    order (a reduced output's: its partial sums, ``(1, C, 1, 1)``)."""
    channels, output = arch.out_shapes[:, 0], arch.dag.output
    return [(1, int(arch.layout.in_shape[p.map][0]), 1, 1) if p.map == output else
            (1, int(channels[p.map]), p.box[1] - p.box[0], p.box[3] - p.box[2]) for p in grid.parts]


def part_bytes(arch, grid: TileGrid) -> np.ndarray:
    """Float32 bytes of each part (:func:`part_shapes` order)."""
    return np.array([c * h * w * FLOAT32_BYTES for _, c, h, w in part_shapes(arch, grid)], dtype=np.int64)


def crop_bytes(arch, grid: TileGrid) -> np.ndarray:
    """Bytes of the image crop each tile unit receives."""
    return np.array([int(arch.spec.input_shape[0]) * area(c) * FLOAT32_BYTES for c in grid.crops], dtype=np.int64)


def gathers(arch, grid: TileGrid, partition: np.ndarray) -> dict[int, list[int]]:
    """Frontier map → the units holding an untiled consumer of it; a reduced output's
    partial sums → unit 0, which adds them and applies the classifier."""
    inside = set(grid.tiled)
    return {f: [0] if f == arch.dag.output else sorted({int(partition[s]) for s in arch.dag.succs[f] if s not in inside})
            for f in grid.frontier}


def hybrid_latency(arch, grid: TileGrid, partition: np.ndarray, profile: DeviceProfile, *,
                   source: bool = False, trace: Trace | None = None, wire: Wire | None = None,
                   pieces: Wire | None = None) -> float:
    """Makespan of the tiling ``grid`` (tile ``t`` on unit ``t``) with the untiled vertices
    on ``partition`` (vertex → unit; entries of tiled vertices are ignored). ``source``:
    end to end, the crops' delivery and the logits' return included (as
    ``simulate(source_bytes=…)``). A ``trace`` records the expanded DAG's vertices.
    ``wire`` (per vertex) and ``pieces`` (per part, :func:`part_shapes` order): what
    each message carries and costs to encode and decode; default float32."""
    dag, costs = arch.dag, arch.costs
    wire = wire_or_raw(wire, costs.out_bytes)
    raw_parts = part_bytes(arch, grid)
    pieces = wire_or_raw(pieces, raw_parts)
    inside = set(grid.tiled)
    residual = [v for v in dag.order if v not in inside]
    gather_units = gathers(arch, grid, partition)
    seconds = vertex_seconds(dag, costs.flops, costs.out_bytes, profile, costs.params)
    g = nx.DiGraph()
    ids: dict[tuple, int] = {}

    def vertex(key: tuple, unit: int, secs: float, nbytes: float, coded: tuple[Wire, int] | None = None) -> int:
        """A vertex of the expanded DAG; ``coded``: the wire and index its messages follow."""
        ids[key] = len(ids)
        message = (nbytes, 0.0, 0.0) if coded is None else \
            (coded[0].bytes[coded[1]], coded[0].encode_macs[coded[1]], coded[0].decode_macs[coded[1]])
        g.add_node(ids[key], unit=unit, secs=secs, nbytes=nbytes, wire=message)
        return ids[key]

    source_id = vertex(("source",), 0, 0.0, 0.0)
    tiles = tile_seconds(arch, grid, profile)
    stage_of = {m: k for k, members in enumerate(grid.stages) for m in members}
    readers = {m: [k for k, reads in enumerate(grid.reads) if m in reads] for m in grid.tiled}
    for t in range(grid.tiles):
        for k in range(tiles.shape[1]):
            vertex(("tile", t, k), t, float(tiles[t, k]), 0.0)
        g.add_edge(source_id, ids["tile", t, 0])
    for i, part in enumerate(grid.parts):  # every part that crosses goes through its map's codec
        m, s = part.map, part.src
        key = ("part", m, s, part.dst)
        vertex(key, s, 0.0, float(raw_parts[i]), (pieces, i))
        g.add_edge(ids["tile", s, stage_of[m]], ids[key])
        g.add_edges_from((ids[key], ids["tile", part.dst if part.dst is not None else s, k]) for k in readers[m])
    head = None
    for f in grid.frontier:
        for u in gather_units[f]:  # read on its own unit only: never a message
            vertex(("gather", f, u), u, 0.0, float(costs.out_bytes[f]))
            g.add_edges_from((ids["part", f, t, None], ids["gather", f, u]) for t in range(grid.tiles))
            if f == dag.output:
                head = ids["gather", f, u]
    for v in residual:
        u = int(partition[v])
        vertex(("vertex", v), u, float(seconds[v]), float(costs.out_bytes[v]), (wire, v))
        g.add_edges_from((ids["gather", p, u] if p in inside else ids["vertex", p], ids["vertex", v])
                         for p in dag.preds[v])
    expanded = Dag(g, source_id, ids["vertex", dag.output] if head is None else head)
    n = len(ids)
    units = np.array([g.nodes[i]["unit"] for i in range(n)])
    # the seconds above hold every compute term; engine calls are not charged here: the
    # expanded DAG's pieces and gathers are not the worker's calls (a stage is one call,
    # 0.1 ms against the tens of ms a 224-px stage computes)
    bare = profile.model_copy(update={"vertex_overhead_s": 0.0, "input_overhead_s": 0.0,
                                      "memory_bytes_per_s": None, "weight_bytes_per_s": None, "call_s": 0.0})
    flops = np.array([g.nodes[i]["secs"] for i in range(n)]) * profile.flops_per_s
    nbytes = np.array([g.nodes[i]["nbytes"] for i in range(n)])
    coded = np.array([g.nodes[i]["wire"] for i in range(n)], dtype=np.float64).reshape(n, 3)
    expanded_wire = Wire(coded[:, 0].astype(np.int64), coded[:, 1], coded[:, 2])
    crop = int(crop_bytes(arch, grid).max()) if source else None
    return simulate(expanded, flops, nbytes, units, bare, policy="ready", input_policy="scatter",
                    source_bytes=crop, trace=trace, wire=expanded_wire)
