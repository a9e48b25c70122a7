"""The tiled prefix of a network computed on one tile's boxes, and the gather.

:mod:`parawire.network.halo` says which box of every high-resolution map a tile needs;
this runs the same blocks of :mod:`parawire.network.nn` (same weights, same modules) on
exactly those boxes. Two things differ from a whole-map forward, and both are exact:

* a 3×3 conv is given its input box already cut to what its output box needs and padded
  with zeros only where that box runs past the map's edge (where the whole-map conv's
  own padding would be); inside the map the halo's real values take the padding's place,
  so the conv runs with padding 0;
* an adaptive max-pool on a box uses the windows of the whole map (a plain max-pool when
  the sizes divide, else one max per window), since a pool on the box alone would put
  its windows elsewhere.

Everything else of a block (weighted sum, ReLU, 1×1 convs, BatchNorm) works position by
position, so it runs on the box as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from parawire.network.halo import (
    PADDING,
    Box,
    Part,
    TileGrid,
    aggregated_box,
    conv_box_input,
    meet,
    pool_input,
)
from parawire.network.nn import ArchitectureNet
from torch import nn


def _cut(x: torch.Tensor, have: Box, want: Box) -> torch.Tensor:
    """The part ``want`` of a tensor that holds the part ``have`` of its map (itself
    when they are the same: an exported slice would copy it)."""
    if want == have:
        return x
    return x[..., want[0] - have[0]:want[1] - have[0], want[2] - have[2]:want[3] - have[2]]


def conv_box(conv: nn.Conv2d, x: torch.Tensor, have: Box, out: Box, size: tuple[int, int]) -> torch.Tensor:
    """Output box ``out`` of a 3×3, padding-1 conv over a map of ``size``, from the box ``have`` of its input.

    Stride 1: the conv keeps its own padding on the cut input and the rows and columns
    that padding spoiled inside the map (where the halo's real values were) are cut off
    the output. An explicit zero pad of the input would be the same values, but exported
    with a free batch it is a ``Pad`` that ONNX Runtime neither folds nor fuses, and it
    cost a tile unit a fifth of its time."""
    s = conv.stride[0]
    need, (top, left, bottom, right) = conv_box_input(out, size, s)
    x = _cut(x, have, need)
    if s == 1:
        y = F.conv2d(x, conv.weight, conv.bias, padding=PADDING, groups=conv.groups)
        return _cut(y, need, out)
    if left or right or top or bottom:  # only at the map's edges
        x = F.pad(x, (left, right, top, bottom))
    return F.conv2d(x, conv.weight, conv.bias, stride=conv.stride, groups=conv.groups)


def _pool_axis(x: torch.Tensor, dim: int, lo: int, span: tuple[int, int], size: int, out: int) -> torch.Tensor:
    """Adaptive max-pool along ``dim`` (2 or 3 of NCHW) from ``size`` to ``out``, output
    span ``span``, of a tensor whose ``dim`` starts at row ``lo`` of the map."""
    a, b = span
    if size == out:
        return x.narrow(dim, a - lo, b - a)
    if size % out == 0:
        k = size // out
        x = x.narrow(dim, a * k - lo, (b - a) * k)
        return x.unflatten(dim, (b - a, k)).amax(dim + 1)
    parts = [x.narrow(dim, i0 - lo, i1 - i0).amax(dim, keepdim=True)
             for i0, i1 in (pool_input(i, i + 1, size, out) for i in range(a, b))]
    return torch.cat(parts, dim)


def pool_box(x: torch.Tensor, have: Box, out: Box, size: tuple[int, int], to: tuple[int, int]) -> torch.Tensor:
    """Output box ``out`` of ``AdaptiveMaxPool2d(to)`` over a map of ``size``, from its box ``have``."""
    if size[0] % to[0] == 0 and size[1] % to[1] == 0:  # plain windows: one max-pool (ONNX MaxPool)
        k = (size[0] // to[0], size[1] // to[1])
        want = (out[0] * k[0], out[1] * k[0], out[2] * k[1], out[3] * k[1])
        return F.max_pool2d(_cut(x, have, want), k)
    x = _pool_axis(x, 2, have[0], (out[0], out[1]), size[0], to[0])
    return _pool_axis(x, 3, have[2], (out[2], out[3]), size[1], to[1])


def run_stage(net: ArchitectureNet, grid: TileGrid, tile: int, k: int, crop: torch.Tensor | None,
              reads: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
    """Tile ``tile``'s owned region of every shared map of stage ``k``, from its image
    ``crop`` (stage 0) and the boxes ``grid.needs[tile]`` of the earlier maps it ``reads``.
    A reduced output's region is its partial sum, ``(1, C, 1, 1)``.

    ``net`` must hold the tiled vertices (``build_network(arch, vertices=…)``)."""
    layout = net.arch.layout
    dag = layout.dag
    members = grid.stages[k]
    boxes, owned = dict(grid.boxes[tile]), grid.owned[tile]
    boxes.update({m: grid.needs[tile][m] for m in reads})
    inside = set(members)
    uses = {v: sum(s in inside for s in dag.succs[v]) + (v in owned) for v in members}
    uses.update({m: sum(m in dag.preds[v] for v in members) for m in reads})
    values: dict[int, torch.Tensor] = dict(reads)
    for v in members:
        block = net.blocks[str(v)]
        box = boxes[v]
        if v == dag.input:
            size = tuple(int(d) for d in layout.in_shape[v][1:])
            values[v] = block.bn(conv_box(block.conv, crop, grid.crops[tile], box, size))
            continue
        _, h, w = (int(d) for d in layout.in_shape[v])
        agg = aggregated_box(layout, v, box)  # a reduced output: its own region, summed below
        steps = block.aggregate.scaling_steps()
        inputs = []
        for i, p in enumerate(dag.preds[v]):
            x, have = values[p], boxes[p]
            step = steps.get(i)
            if step is not None and isinstance(step.pool, nn.AdaptiveMaxPool2d):
                x = pool_box(x, have, agg, tuple(int(d) for d in layout.out_shape[p][1:]), (h, w))
            else:
                x = _cut(x, have, agg)
            inputs.append(step.conv(x) if step is not None else x)
            uses[p] -= 1
            if uses[p] == 0:
                del values[p]
        x = block.aggregate(inputs, prescaled=True)
        if v == dag.output:
            values[v] = x.sum(dim=(2, 3), keepdim=True)
            continue
        values[v] = block.bn(block.pointwise(conv_box(block.depthwise, torch.relu(x), agg, box, (h, w))))
    return {m: values[m] if m == dag.output else _cut(values[m], boxes[m], owned[m])
            for m in members if m in owned}


def assemble(parts: Sequence[torch.Tensor], boxes: Sequence[Box]) -> torch.Tensor:
    """One box of a map from the parts covering it, row-major as the grid numbers its
    tiles (so parts of one band of rows are consecutive)."""
    bands: list[list[torch.Tensor]] = []
    for i, (x, box) in enumerate(zip(parts, boxes)):
        if i == 0 or box[:2] != boxes[i - 1][:2]:
            bands.append([])
        bands[-1].append(x)
    rows = [band[0] if len(band) == 1 else torch.cat(band, dim=-1) for band in bands]
    return rows[0] if len(rows) == 1 else torch.cat(rows, dim=-2)


def stage_parts(grid: TileGrid, tile: int, k: int) -> list[Part]:
    """The parts stage ``k`` of tile ``tile`` sends or keeps, in :attr:`TileGrid.parts` order."""
    members = set(grid.stages[k])
    return [p for p in grid.parts if p.src == tile and p.map in members]


def read_parts(grid: TileGrid, tile: int, k: int) -> list[tuple[int, int, int | None]]:
    """What stage ``k`` of tile ``tile`` takes, map by map: its own region of each map it
    reads, or another tile's halo for it, as ``(map, source tile, destination)`` keys."""
    return [(m, s, None if s == tile else tile) for m in grid.reads[k] for s in grid.sources(tile, m)]


class TileStack(nn.Module):
    """One stage of one tile as a module, ``(crop?, parts…) → its parts``: the box
    arithmetic is fixed per tile, so an engine can export it once per tile shape and run
    the stage in one call (the ``module`` engine hook). Inputs: the image crop (stage 0),
    then :func:`read_parts`; outputs: :func:`stage_parts`."""

    def __init__(self, net: ArchitectureNet, grid: TileGrid, tile: int, k: int = 0) -> None:
        super().__init__()
        self.net, self.grid, self.tile, self.k = net, grid, tile, k
        self.reads = read_parts(grid, tile, k)
        self.parts = stage_parts(grid, tile, k)
        # in its net's mode: an exporter that restores this module's mode afterwards would
        # otherwise put the net's BatchNorms in training mode
        self.train(net.training)

    def input_shapes(self) -> list[tuple[int, int, int]]:
        """(C, H, W) of each input, in order: the image crop (stage 0), then each part read."""
        grid, layout, crop = self.grid, self.net.arch.layout, self.k == 0
        boxes = [grid.crops[self.tile]] * crop + [grid.part_box(*key) for key in self.reads]
        channels = [int(layout.in_shape[layout.dag.input][0])] * crop + [int(layout.out_shape[m][0])
                                                                         for m, _, _ in self.reads]
        return [(c, r1 - r0, c1 - c0) for c, (r0, r1, c0, c1) in zip(channels, boxes)]

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        grid, tile = self.grid, self.tile
        crop, rest = (inputs[0], inputs[1:]) if self.k == 0 else (None, inputs)
        pieces: dict[int, tuple[list[torch.Tensor], list[Box]]] = {}
        for (m, s, dst), x in zip(self.reads, rest):
            box = meet(grid.owned[s][m], grid.needs[tile][m])
            if dst is None:  # our own region: the part of it we need
                x = _cut(x, grid.owned[s][m], box)
            xs, bs = pieces.setdefault(m, ([], []))
            xs.append(x)
            bs.append(box)
        reads = {m: assemble(xs, bs) for m, (xs, bs) in pieces.items()}
        own = run_stage(self.net, grid, tile, self.k, crop, reads)
        return tuple(own[p.map] if p.dst is None else _cut(own[p.map], grid.owned[tile][p.map], p.box)
                     for p in self.parts)


def run_tiles(net: ArchitectureNet, grid: TileGrid, x: torch.Tensor,
              through: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
              ) -> dict[tuple[int, int, int | None], torch.Tensor]:
    """Every part of every stage on every tile, in one process, from the image ``x``:
    what the tile units compute between them, keyed ``(map, source tile, destination)``;
    each halo as its destination receives it, ``through(map, halo)`` (a codec's round
    trip) when given."""
    parts: dict[tuple[int, int, int | None], torch.Tensor] = {}
    for k in range(len(grid.stages)):
        for t, (r0, r1, c0, c1) in enumerate(grid.crops):
            stack = TileStack(net, grid, t, k)
            crop = (x[..., r0:r1, c0:c1].contiguous(),) if k == 0 else ()
            outs = stack(*crop, *(parts[key] for key in stack.reads))
            parts.update({(p.map, p.src, p.dst): y if p.dst is None or through is None else through(p.map, y)
                          for p, y in zip(stack.parts, outs)})
    return parts


def merge(net: ArchitectureNet, grid: TileGrid, f: int, pieces: Sequence[torch.Tensor]) -> torch.Tensor:
    """Frontier map ``f`` from every tile's piece of it (row-major); for a reduced output,
    the logits from the partial sums: their sum over the map's area, then the classifier."""
    layout = net.arch.layout
    if f != layout.dag.output:
        return gather(pieces, grid.rows, grid.cols)
    _, h, w = (int(d) for d in layout.in_shape[f])
    total = pieces[0]
    for x in pieces[1:]:
        total = total + x
    return net.blocks[str(f)].fc(total.flatten(1) / (h * w))


def gather(pieces: Sequence[torch.Tensor], rows: int, cols: int) -> torch.Tensor:
    """The whole map from its tiles (row-major, as the grid numbers them)."""
    return torch.cat([torch.cat(list(pieces[i * cols:(i + 1) * cols]), dim=-1) for i in range(rows)], dim=-2)
