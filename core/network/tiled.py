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

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from parawire.network.halo import PADDING, Box, TileGrid, conv_input, pool_input
from parawire.network.nn import ArchitectureNet
from torch import nn


def _cut(x: torch.Tensor, have: Box, want: Box) -> torch.Tensor:
    """The part ``want`` of a tensor that holds the part ``have`` of its map."""
    return x[..., want[0] - have[0]:want[1] - have[0], want[2] - have[2]:want[3] - have[2]]


def conv_box(conv: nn.Conv2d, x: torch.Tensor, have: Box, out: Box, size: tuple[int, int]) -> torch.Tensor:
    """Output box ``out`` of a 3×3, padding-1 conv over a map of ``size``, from the box ``have`` of its input."""
    s = conv.stride[0]
    need = (*conv_input(out[0], out[1], size[0], s), *conv_input(out[2], out[3], size[1], s))
    top = max(0, PADDING - out[0] * s)
    left = max(0, PADDING - out[2] * s)
    bottom = (out[1] - out[0] - 1) * s + 3 - top - (need[1] - need[0])
    right = (out[3] - out[2] - 1) * s + 3 - left - (need[3] - need[2])
    x = F.pad(_cut(x, have, need), (left, right, top, bottom))
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
    x = _pool_axis(x, 2, have[0], (out[0], out[1]), size[0], to[0])
    return _pool_axis(x, 3, have[2], (out[2], out[3]), size[1], to[1])


def run_tile(net: ArchitectureNet, grid: TileGrid, tile: int, crop: torch.Tensor) -> list[torch.Tensor]:
    """Tile ``tile``'s part of every frontier map (``grid.frontier`` order) from its image ``crop``.

    ``net`` must hold the tiled vertices (``build_network(arch, vertices=…)``)."""
    layout = net.arch.layout
    dag = layout.dag
    boxes = grid.boxes[tile]
    inside = set(grid.tiled)
    uses = {v: sum(s in inside for s in dag.succs[v]) + (v in grid.owned[tile]) for v in grid.tiled}
    values: dict[int, torch.Tensor] = {}
    for v in grid.tiled:
        block = net.blocks[str(v)]
        box = boxes[v]
        if v == dag.input:
            size = tuple(int(d) for d in layout.in_shape[v][1:])
            values[v] = block.bn(conv_box(block.conv, crop, grid.crops[tile], box, size))
            continue
        _, h, w = (int(d) for d in layout.in_shape[v])
        s = 2 if layout.staged[v] else 1
        agg = (*conv_input(box[0], box[1], h, s), *conv_input(box[2], box[3], w, s))
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
        x = torch.relu(block.aggregate(inputs, prescaled=True))
        values[v] = block.bn(block.pointwise(conv_box(block.depthwise, x, agg, box, (h, w))))
    return [_cut(values[f], boxes[f], grid.owned[tile][f]) for f in grid.frontier]


class TileStack(nn.Module):
    """:func:`run_tile` of one tile as a module, ``crop → tuple of pieces``: the box
    arithmetic is fixed per tile, so an engine can export it once per tile shape and run
    the whole tiled prefix in one call (the ``module`` engine hook)."""

    def __init__(self, net: ArchitectureNet, grid: TileGrid, tile: int) -> None:
        super().__init__()
        self.net, self.grid, self.tile = net, grid, tile
        # in its net's mode: an exporter that restores this module's mode afterwards would
        # otherwise put the net's BatchNorms in training mode
        self.train(net.training)

    def forward(self, crop: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(run_tile(self.net, self.grid, self.tile, crop))


def gather(pieces: Sequence[torch.Tensor], rows: int, cols: int) -> torch.Tensor:
    """The whole map from its tiles (row-major, as the grid numbers them)."""
    return torch.cat([torch.cat(list(pieces[i * cols:(i + 1) * cols]), dim=-1) for i in range(rows)], dim=-2)
