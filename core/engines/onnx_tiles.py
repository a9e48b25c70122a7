"""One stage of one tile (:class:`~parawire.network.tiled.TileStack`) as an ONNX graph
built by hand, as :mod:`parawire.engines.onnx_graph` builds whole vertices.

Why not torch's exporter: a tile stack runs with any batch, and the exporter then turns
every box cut and border pad into shape arithmetic that ONNX Runtime neither folds nor
fuses, each a copy that also takes the tensor out of the NCHWc layout and back. A DP-40
224-px tile spent 60 % of its time on those copies. Here every box is a constant: a conv
takes its border padding as its own (asymmetric) ``pads``, a cut is one ``Slice`` with
constant bounds and only where a box is larger than its consumer needs, BatchNorm is
folded into its conv. The arithmetic is :func:`parawire.network.tiled.run_stage`'s, and
tests check the two agree.
"""

from __future__ import annotations

import numpy as np
import onnx
from parawire.engines.onnx_graph import GraphBuilder, add_aggregation, add_conv
from parawire.network.halo import Box, aggregated_box, conv_box_input, meet
from parawire.network.tiled import TileStack
from torch import nn


def _cut(g: GraphBuilder, x: str, have: Box, want: Box) -> str:
    """The part ``want`` of a tensor holding the part ``have`` of its map."""
    if want == have:
        return x
    starts = np.array([want[0] - have[0], want[2] - have[2]], dtype=np.int64)
    ends = np.array([want[1] - have[0], want[3] - have[2]], dtype=np.int64)
    return g.op("Slice", [x, g.const(starts, "s"), g.const(ends, "e"), g.const(np.array([2, 3], np.int64), "axes")])


def _assemble(g: GraphBuilder, parts: list[str], boxes: list[Box]) -> str:
    """One box from the parts covering it, row-major (a band of rows, then the bands)."""
    bands: list[list[str]] = []
    for i, box in enumerate(boxes):
        if i == 0 or box[:2] != boxes[i - 1][:2]:
            bands.append([])
        bands[-1].append(parts[i])
    rows = [band[0] if len(band) == 1 else g.op("Concat", band, axis=3) for band in bands]
    return rows[0] if len(rows) == 1 else g.op("Concat", rows, axis=2)


def _conv(g: GraphBuilder, x: str, have: Box, out: Box, size: tuple[int, int], conv: nn.Conv2d,
          bn: nn.BatchNorm2d | None = None) -> str:
    """Output box ``out`` of a 3×3, padding-1 conv over a map of ``size`` from the box
    ``have`` of its input: the input cut to what ``out`` reads, zeros only past the map."""
    need, pads = conv_box_input(out, size, conv.stride[0])
    return add_conv(g, _cut(g, x, have, need), conv, bn, pads=list(pads))


def stage_model(stack: TileStack) -> onnx.ModelProto:
    """The ONNX graph of ``stack``: inputs its crop (stage 0) and parts, outputs its parts.

    Raises ``NotImplementedError`` for an adaptive max-pool whose windows do not divide
    the map (the caller then exports the module instead)."""
    net, grid, tile, k = stack.net, stack.grid, stack.tile, stack.k
    layout = net.arch.layout
    dag = layout.dag
    g = GraphBuilder()
    names = ["crop"] * (k == 0) + [f"part{i}" for i in range(len(stack.reads))]
    inputs: list[tuple[str, tuple[int, ...]]] = list(zip(names, stack.input_shapes()))
    boxes = dict(grid.boxes[tile])
    values: dict[int, str] = {}
    pieces: dict[int, tuple[list[str], list[Box]]] = {}
    for i, (m, s, dst) in enumerate(stack.reads):
        have = grid.part_box(m, s, dst)
        name = f"part{i}"
        box = meet(grid.owned[s][m], grid.needs[tile][m])
        xs, bs = pieces.setdefault(m, ([], []))
        xs.append(_cut(g, name, have, box))
        bs.append(box)
    for m, (xs, bs) in pieces.items():
        values[m] = _assemble(g, xs, bs)
        boxes[m] = grid.needs[tile][m]
    for v in grid.stages[k]:
        block = net.blocks[str(v)]
        box = boxes[v]
        if v == dag.input:
            size = tuple(int(d) for d in layout.in_shape[v][1:])
            values[v] = _conv(g, "crop", grid.crops[tile], box, size, block.conv, block.bn)
            continue
        _, h, w = (int(d) for d in layout.in_shape[v])
        agg = aggregated_box(layout, v, box)
        steps = block.aggregate.scaling_steps()
        scaled = []
        for i, p in enumerate(dag.preds[v]):
            x, have, step = values[p], boxes[p], steps.get(i)
            if step is not None and isinstance(step.pool, nn.AdaptiveMaxPool2d):
                ph, pw = (int(d) for d in layout.out_shape[p][1:])
                if ph % h or pw % w:
                    raise NotImplementedError("adaptive max-pool with uneven windows")
                kh, kw = ph // h, pw // w
                want = (agg[0] * kh, agg[1] * kh, agg[2] * kw, agg[3] * kw)
                x = g.op("MaxPool", [_cut(g, x, have, want)], kernel_shape=[kh, kw], strides=[kh, kw])
            else:
                x = _cut(g, x, have, agg)
            if step is not None and isinstance(step.conv, nn.Conv2d):
                x = add_conv(g, x, step.conv)
            scaled.append(x)
        x = add_aggregation(g, scaled, block.aggregate, [], prescaled=True)
        if v == dag.output:
            values[v] = g.op("ReduceSum", [x, g.const(np.array([2, 3], np.int64), "axes")], keepdims=1)
            continue
        x = _conv(g, g.op("Relu", [x]), agg, box, (h, w), block.depthwise)
        values[v] = add_conv(g, x, block.pointwise, block.bn)
    owned = grid.owned[tile]
    outputs = [values[p.map] if p.map == dag.output else
               _cut(g, values[p.map], boxes[p.map], owned[p.map] if p.dst is None else p.box) for p in stack.parts]
    # each part a graph output of its own: an Identity only where two parts are one tensor
    # or a part is an input passed through (every Identity of a map is a copy of it: 6 % of
    # a 224-px FB-40 tile's calls at depth 1)
    named: list[str] = []
    taken = {name for name, _ in inputs}
    for x in outputs:
        named.append(g.op("Identity", [x]) if x in taken else x)
        taken.add(x)
    return g.model(inputs, named)
