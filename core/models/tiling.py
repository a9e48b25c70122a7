"""Tiles of an imported model's high-resolution prefix: box arithmetic over its trace.

Why: at 224 px the large tensors of a CNN are its high-resolution maps (ResNet-18's
stem output is 64 × 112 × 112 floats, 3.2 MB), and a graph partition must cut exactly
those; on 100 Mbit/s links one crossing costs more than a device's whole compute. The
tile-parallel placement (:mod:`parawire.network.halo`, DeepThings' fused tiles) splits
the maps instead. This module gives an imported model the same
:class:`~parawire.network.halo.TileGrid`, so the latency model, the planner and the
executor treat both kinds of network alike.

**Overlap and discard.** parawire's own networks cut every conv's input box to what its
output box needs (``network.tiled``). An imported model's code is the user's, so here the
traced prefix runs *unchanged* on a crop of the image, and each tile keeps only its own
region of the maps at the threshold. That is exact when

* the crop holds every image pixel the kept regions depend on: boxes are propagated
  backwards from each kept region through every node's window (kernel, stride, padding,
  dilation; a position-wise node needs the same positions), the union over consumers;
* the crop starts on a multiple of every cumulative stride, so each strided node's
  output grid on the crop is the whole map's grid shifted by a whole number of
  positions; its end is the needed end (at the map's edge the crop's padding *is* the
  map's padding);
* every value a kept region reads lies inside what the crop computes: checked node by
  node (forward sizes on the crop against the backward needs); values near the crop's
  inner edges, spoiled by padding where the map has real pixels, are never read.

**What tiles.** A vertex is tileable when every node of its block is a convolution,
max- or average-pool (zero padding, ``"same"`` where it is even, no ``ceil_mode``), or a position-wise operator
(BatchNorm in eval mode, activations, arithmetic, ``cat`` over channels) on 4-D maps of
one size, reading no image-dependent helper (a ``size()`` or a ``chunk`` tuple would
change meaning on a crop) and no constant with a spatial extent. The tiled prefix at
threshold ``t`` is every tileable vertex whose map has at least ``t`` rows and all of
whose inputs are tiled (the image first): global pools, attention, flattening and
upsampling end it. The frontier (tiled vertices read by an untiled one) is gathered.
One fused stage: a model has no halo exchange between stages.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from functools import cached_property

import torch
import torch.nn.functional as F
from parawire.errors import ParawireError
from parawire.graph.dag import Dag
from parawire.models.subgraph import external_reads, members_by_vertex, region_graph_module
from parawire.models.trace import TRACING, Traced, node_values
from parawire.network.halo import Box, TileGrid, hull, parts_of, tile_box
from parawire.network.padding import same_padding
from torch import fx, nn


@dataclass(frozen=True)
class Window:
    """How a node's output position reads its inputs, per axis (rows, columns):
    ``out[i]`` reads inputs ``i·stride − padding + dilation·j`` for ``j < kernel``."""

    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)

    def needs(self, lo: int, hi: int, size: int, axis: int) -> tuple[int, int]:
        """Input span ``[lo', hi')`` (clipped to ``size``) that output span ``[lo, hi)`` reads."""
        k, s, p, d = self.kernel[axis], self.stride[axis], self.padding[axis], self.dilation[axis]
        return max(0, lo * s - p), min(size, (hi - 1) * s - p + d * (k - 1) + 1)

    def out_size(self, size: int, axis: int) -> int:
        """Output length over an input of ``size`` (PyTorch's floor rule)."""
        k, s, p, d = self.kernel[axis], self.stride[axis], self.padding[axis], self.dilation[axis]
        return (size + 2 * p - d * (k - 1) - 1) // s + 1


POSITIONWISE = Window()

_POSITIONWISE_MODULES = (nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.SiLU, nn.GELU, nn.Hardswish,
                         nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.Identity, nn.ELU, nn.Mish, nn.Softplus,
                         nn.PReLU, nn.Dropout, nn.Dropout2d)
_POSITIONWISE_FUNCTIONS = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub,
                           torch.mul, torch.div, torch.relu, torch.sigmoid, torch.tanh, F.relu, F.relu6, F.silu,
                           F.gelu, F.hardswish, F.hardsigmoid, F.leaky_relu, F.elu, F.sigmoid, F.tanh, F.mish}
_POSITIONWISE_METHODS = {"relu", "sigmoid", "tanh", "add", "sub", "mul", "div", "contiguous", "clone"}
_CONV_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_MAX_POOL_ARGS = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
_AVG_POOL_ARGS = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
_PARAMETER_ARGS = {F.conv2d: 1, torch.conv2d: 1, F.batch_norm: 1}
"""Functions whose arguments from this position on are parameters, not maps."""


def _pair(v: object) -> tuple[int, int]:
    if isinstance(v, int):
        return v, v
    a, b = v  # type: ignore[misc]
    return int(a), int(b)


def _bind(names: tuple[str, ...], node: fx.Node) -> dict[str, object]:
    bound = dict(zip(names, node.args))
    bound.update(node.kwargs)
    return bound


def _conv(stride: object, padding: object, dilation: object, kernel: tuple[int, int]) -> Window | None:
    if padding == "same":
        padding = same_padding(kernel, _pair(dilation))
        if padding is None:
            return None  # uneven: more padding on one side than a window can say
    elif padding == "valid":
        padding = 0
    elif isinstance(padding, str):
        return None
    return Window(kernel, _pair(stride), _pair(padding), _pair(dilation))


def _pool(a: dict[str, object], dilation: object = 1) -> Window | None:
    if a.get("ceil_mode") or a.get("return_indices"):
        return None
    kernel = _pair(a["kernel_size"])
    stride = a.get("stride")
    return Window(kernel, _pair(stride) if stride not in (None, [], ()) else kernel, _pair(a.get("padding", 0)),
                  _pair(dilation))


def window(node: fx.Node, gm: Traced, shapes: dict[fx.Node, tuple[int, ...]]) -> Window | None:
    """The node's window if it is local in space (module docstring), else None."""
    if node.op == "call_module":
        m = gm.get_submodule(str(node.target))
        kind = next((c for c in (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, *_POSITIONWISE_MODULES) if isinstance(m, c)),
                    None)
        if kind is None or type(m).forward is not kind.forward:
            return None  # a subclass with its own forward may do anything
        if m.training and kind in (nn.BatchNorm2d, nn.Dropout, nn.Dropout2d):
            return None  # batch statistics or random masks are not position-wise
        if kind is nn.Conv2d:
            return _conv(m.stride, m.padding, m.dilation, _pair(m.kernel_size)) if m.padding_mode == "zeros" else None
        if kind is nn.MaxPool2d:
            return _pool(vars(m), m.dilation)
        if kind is nn.AvgPool2d:
            return _pool(vars(m))
        return POSITIONWISE
    if node.op == "call_function":
        f = node.target
        if f in (F.conv2d, torch.conv2d):
            a = _bind(_CONV_ARGS, node)
            weight = shapes.get(a["weight"]) if isinstance(a["weight"], fx.Node) else None
            if weight is None:
                return None
            return _conv(a.get("stride", 1), a.get("padding", 0), a.get("dilation", 1), (weight[-2], weight[-1]))
        if f is F.max_pool2d:
            a = _bind(_MAX_POOL_ARGS, node)
            return _pool(a, a.get("dilation", 1))
        if f in (F.avg_pool2d, torch._C._nn.avg_pool2d):
            return _pool(_bind(_AVG_POOL_ARGS, node))
        if f is F.batch_norm:
            return None if node.kwargs.get("training", node.args[5] if len(node.args) > 5 else False) else POSITIONWISE
        if f is F.dropout:
            return None if node.kwargs.get("training", node.args[2] if len(node.args) > 2 else True) else POSITIONWISE
        if f is torch.cat:
            dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
            return POSITIONWISE if dim in (1, -3) else None
        return POSITIONWISE if f in _POSITIONWISE_FUNCTIONS else None
    if node.op == "call_method":
        return POSITIONWISE if node.target in _POSITIONWISE_METHODS else None
    return None


def node_shapes(gm: Traced, x: torch.Tensor) -> dict[fx.Node, tuple[int, ...]]:
    """Every tensor-valued node's shape on image ``x``, from one run of the trace. Under
    :data:`~parawire.models.trace.TRACING`: fx patches ``Module.__call__`` for every thread
    while it traces, so a worker thread running its trace while another traces fails
    (``module is not installed as a submodule``)."""
    with TRACING:
        env = node_values(gm, x)
    return {n: tuple(v.shape) for n, v in env.items() if isinstance(v, torch.Tensor)}


class ModelTiles:
    """The tile arithmetic of one traced model (module docstring): which vertices may be
    tiled, their maps, and the :class:`TileGrid` of any grid and threshold."""

    def __init__(self, gm: Traced, assignment: dict[str, int], dag: Dag,
                 shapes: dict[fx.Node, tuple[int, ...]]) -> None:
        self.gm, self.dag, self.shapes = gm, dag, shapes
        self.members = members_by_vertex(gm, assignment)
        self.image = next(n for n in gm.graph.nodes if n.op == "placeholder")
        self.export = {v: nodes[-1] for v, nodes in self.members.items()}
        self.export[dag.input] = self.image
        self.windows: dict[fx.Node, Window] = {}
        self.maps: dict[fx.Node, list[fx.Node]] = {}  # node → the image-dependent maps it reads
        # (rows, cols) of every map of one image; a channel split's tuple has its input's
        self.sizes = {n: (s[2], s[3]) for n, s in shapes.items() if len(s) == 4 and s[0] == 1}
        self._classify()

    def _classify(self) -> None:
        """:attr:`windows` and :attr:`maps` of every node that may tile."""
        dependent = {self.image}
        for n in self.gm.graph.nodes:
            if n.op != "placeholder" and any(a in dependent for a in n.all_input_nodes):
                dependent.add(n)
        activation = {n for nodes in self.members.values() for n in nodes} | {self.image}
        for n in self.gm.graph.nodes:
            if n not in dependent or n is self.image:
                continue
            source = _channel_split(n)
            if source is not None:  # a tuple of channel groups: each position-wise in its input
                if source in self.sizes and (source in activation or source in self.windows):
                    self.windows[n], self.maps[n], self.sizes[n] = POSITIONWISE, [source], self.sizes[source]
                continue
            if n.op == "call_function" and n.target is operator.getitem and isinstance(n.args[1], int) \
                    and _channel_split(n.args[0]) is not None and n.args[0] in self.windows and n in self.sizes:
                self.windows[n], self.maps[n] = POSITIONWISE, [n.args[0]]
                continue
            w = window(n, self.gm, self.shapes)
            shape = self.shapes.get(n)
            if w is None or shape is None or len(shape) != 4 or shape[0] != 1:
                continue
            first_parameter = _PARAMETER_ARGS.get(n.target) if n.op == "call_function" else None
            inputs = n.all_input_nodes if first_parameter is None else \
                [a for a in _flat(n.args[:first_parameter]) if isinstance(a, fx.Node)]
            maps = [a for a in inputs if a in dependent]
            if any(a not in activation and a not in self.windows for a in maps):
                continue  # an image-dependent helper (a size…): its meaning changes on a crop
            if any(a not in self.sizes for a in maps) or not maps:
                continue
            if w == POSITIONWISE and any(self.sizes[a] != shape[2:] for a in maps):
                continue
            constants = [a for a in inputs if a not in dependent]
            if any(len(s := self.shapes.get(a, ())) >= 2 and max(s[-2:]) > 1 for a in constants):
                continue  # a constant map (a positional table): one crop would read the wrong part of it
            if first_parameter is not None and any(a in dependent for a in _flat(n.args[first_parameter:])):
                continue
            self.windows[n] = w
            self.maps[n] = maps

    @cached_property
    def tileable(self) -> set[int]:
        """Vertices whose every node may tile (the image vertex included)."""
        return {self.dag.input} | {v for v, nodes in self.members.items() if all(n in self.windows for n in nodes)}

    def size(self, v: int) -> tuple[int, int]:
        """(rows, cols) of vertex v's map."""
        return self.sizes[self.export[v]]

    def tiled(self, threshold: int) -> tuple[int, ...]:
        """The tiled prefix at ``threshold`` rows (topological order), the image vertex first."""
        inside: dict[int, None] = {}  # ordered, with set lookups
        for v in self.dag.order:
            if v in self.tileable and self.size(v)[0] >= threshold and all(p in inside for p in self.dag.preds[v]):
                inside[v] = None
        return tuple(inside)

    def thresholds(self) -> list[int]:
        """Map heights a prefix can be cut at (largest first), one per distinct tiled prefix."""
        heights = sorted({self.size(v)[0] for v in self.tileable if v != self.dag.input}, reverse=True)
        seen: set[tuple[int, ...]] = set()
        out = []
        for h in heights:
            tiled = self.tiled(h)
            if len(tiled) > 1 and tiled not in seen:
                seen.add(tiled)
                out.append(h)
        return out

    def prefix_nodes(self, tiled: tuple[int, ...]) -> list[fx.Node]:
        """The activation nodes of the tiled vertices, in program order."""
        names = {n.name for v in tiled if v in self.members for n in self.members[v]}
        return [n for n in self.gm.graph.nodes if n.name in names]

    def grid(self, rows: int, cols: int, threshold: int, depth: int | None = None) -> TileGrid:
        """The :class:`TileGrid` of a ``rows × cols`` tiling of the prefix at ``threshold``."""
        if rows < 1 or cols < 1:
            raise ParawireError(f"tile grid: got {rows}×{cols}; rows and cols must be at least 1")
        if depth is not None:
            raise ParawireError(f"tile depth: got {depth}; an imported model's tiles run as one fused stage (none)")
        tiled = self.tiled(threshold)
        if len(tiled) < 2:
            raise ParawireError(f"tile threshold: got {threshold}; no block with that many rows can be tiled")
        inside = set(tiled)
        edge = tuple(v for v in tiled if any(s not in inside for s in self.dag.succs[v]))
        small = [f for f in edge if self.size(f)[0] < rows or self.size(f)[1] < cols]
        if small:
            h, w = self.size(small[0])
            raise ParawireError(f"tile grid: {rows}×{cols} does not fit vertex {small[0]}'s {h}×{w} map;"
                                " use fewer tiles or a higher threshold")
        nodes = self.prefix_nodes(tiled)
        boxes, owned, crops = [], [], []
        for i in range(rows):
            for j in range(cols):
                mine = {f: tile_box(self.size(f), rows, cols, i, j) for f in edge}
                crop, cover = self._tile(nodes, mine)
                boxes.append({v: cover[self.export[v]] for v in tiled})
                owned.append(mine)
                crops.append(crop)
        needs = tuple({} for _ in crops)  # one stage: no tile reads another's region
        return TileGrid(rows, cols, threshold, tiled, edge, tuple(boxes), tuple(owned), tuple(crops), None,
                        (tiled,), needs, ((),), False, parts_of(edge, owned, list(needs)))

    def _with_helpers(self, nodes: list[fx.Node]) -> list[fx.Node]:
        """``nodes`` and the helpers they read that may tile (a channel split's tuple), in
        program order: the prefix module computes those too."""
        found, stack = set(nodes), list(nodes)
        while stack:
            for a in self.maps[stack.pop()]:
                if a not in found and a is not self.image:
                    found.add(a)
                    stack.append(a)
        return [n for n in self.gm.graph.nodes if n in found]

    def _tile(self, nodes: list[fx.Node], owned: dict[int, Box]) -> tuple[Box, dict[fx.Node, Box]]:
        """One tile's image crop and the box every prefix node computes on it."""
        nodes = self._with_helpers(nodes)
        need: dict[fx.Node, Box] = {}
        for f, box in owned.items():
            need[self.export[f]] = hull(need.get(self.export[f]), box)
        for n in reversed(nodes):
            if n not in need:
                continue
            box, w = need[n], self.windows[n]
            for a in self.maps[n]:
                h, wd = self.sizes[a]
                req = (*w.needs(box[0], box[1], h, 0), *w.needs(box[2], box[3], wd, 1))
                if req[0] >= req[1] or req[2] >= req[3]:
                    raise ParawireError(f"tile: node {n.name} reads only padding on this tile; use fewer tiles")
                need[a] = hull(need.get(a), req)
        stride: dict[fx.Node, tuple[int, int]] = {self.image: (1, 1)}
        for n in nodes:
            seen = {stride[a] for a in self.maps[n]}
            if len(seen) != 1:
                raise ParawireError(f"tile: node {n.name} joins maps of different strides; it cannot be tiled")
            (sh, sw), w = seen.pop(), self.windows[n]
            stride[n] = (sh * w.stride[0], sw * w.stride[1])
        align = (math.lcm(*(s[0] for s in stride.values())), math.lcm(*(s[1] for s in stride.values())))
        r0, r1, c0, c1 = need[self.image]
        crop = (r0 // align[0] * align[0], r1, c0 // align[1] * align[1], c1)
        cover: dict[fx.Node, Box] = {self.image: crop}
        for n in nodes:
            spans = {cover[a] for a in self.maps[n]}
            if len(spans) != 1:
                raise ParawireError(f"tile: node {n.name} joins maps of different extents on a crop")
            got, w = spans.pop(), self.windows[n]
            out = []
            for axis in (0, 1):
                lo, hi = got[2 * axis], got[2 * axis + 1]
                s = w.stride[axis]
                size = w.out_size(hi - lo, axis)
                if lo % s or size < 1:
                    raise ParawireError(f"tile: node {n.name} does not fit this tile's crop; use fewer tiles")
                out += [lo // s, lo // s + size]
            cover[n] = (out[0], out[1], out[2], out[3])
            want = need.get(n)
            full = self.sizes[n]
            if out[1] > full[0] or out[3] > full[1] or (want is not None and not (
                    out[0] <= want[0] and want[1] <= out[1] and out[2] <= want[2] and want[3] <= out[3])):
                raise ParawireError(f"tile: node {n.name} on a crop does not cover what its readers need")
        return crop, cover

    def stack(self, grid: TileGrid, tile: int) -> TileStack:
        """Tile ``tile``'s module: its crop → its own region of every frontier map."""
        module = region_graph_module(self.gm, self.prefix_nodes(grid.tiled), [(self.dag.input, self.image)],
                                     [self.export[f] for f in grid.frontier], {}, "TileStack")
        return TileStack(module, [grid.boxes[tile][f] for f in grid.frontier],
                         [grid.owned[tile][f] for f in grid.frontier], grid.crops[tile], int(self.shapes[self.image][1]))


_SPLITS = {"chunk": 2, "split": 2, "tensor_split": 2}
"""Channel splits (method name → position of ``dim``): ``x.chunk(2, 1)``, ``torch.split(x, 8, dim=1)``."""


def _channel_split(node: object) -> fx.Node | None:
    """The split map if ``node`` splits a map into groups of channels, else None."""
    if not isinstance(node, fx.Node) or not node.args or not isinstance(node.args[0], fx.Node):
        return None
    if node.op == "call_method" and node.target in _SPLITS:
        name = node.target
    elif node.op == "call_function" and node.target in (torch.chunk, torch.split, torch.tensor_split):
        name = node.target.__name__
    else:
        return None
    dim = node.kwargs.get("dim", node.args[_SPLITS[name]] if len(node.args) > _SPLITS[name] else 0)
    return node.args[0] if dim in (1, -3) else None


def _flat(args: object) -> list[object]:
    out: list[object] = []
    for a in args if isinstance(args, (list, tuple)) else [args]:
        out += _flat(a) if isinstance(a, (list, tuple)) else [a]
    return out


class TileStack(nn.Module):
    """The traced prefix on one tile's crop, then each frontier map cut to the tile's own
    region: ``crop → (region, …)``. Exported once per tile (its crop's shape is fixed)."""

    def __init__(self, prefix: fx.GraphModule, computed: list[Box], owned: list[Box], crop: Box,
                 channels: int) -> None:
        super().__init__()
        self.prefix = prefix
        self.cuts = [(o[0] - c[0], o[1] - c[0], o[2] - c[2], o[3] - c[2]) for c, o in zip(computed, owned)]
        self.crop, self.channels = crop, channels

    def input_shapes(self) -> list[tuple[int, int, int]]:
        r0, r1, c0, c1 = self.crop
        return [(self.channels, r1 - r0, c1 - c0)]

    def forward(self, crop: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.prefix(crop)
        maps = out if isinstance(out, tuple) else (out,)
        return tuple(m if (a, b, c, d) == (0, m.shape[2], 0, m.shape[3]) else m[:, :, a:b, c:d]
                     for m, (a, b, c, d) in zip(maps, self.cuts))


def model_dag(gm: Traced, assignment: dict[str, int], input_vertex: int, output_vertex: int) -> Dag:
    """The model's DAG from the trace and the assignment alone (what a worker has): the
    same edges as the coordinator's, so the same :attr:`Dag.order` and the same grids."""
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from([input_vertex, output_vertex])
    for v, nodes in members_by_vertex(gm, assignment).items():
        graph.add_node(v)
        graph.add_edges_from((p, v) for p in external_reads(nodes, assignment, input_vertex))
    source = next(n for n in gm.graph.nodes if n.op == "output").args[0]
    graph.add_edge(input_vertex if source.op == "placeholder" else assignment[source.name], output_vertex)
    return Dag(graph, input_vertex, output_vertex)


def unit_tile_blocks(tiles: ModelTiles, unit, compile_module=None) -> dict:  # type: ignore[no-untyped-def]
    """A tiled plan's blocks of an imported model on ``unit`` (worker side): its tile's
    call (crop → its pieces of every frontier map), and a gather per frontier map it
    holds. The grid is recomputed from this worker's trace and must be the plan's.
    ``compile_module(module, example_inputs)``: the engine's export (ONNX Runtime: one
    session for the tile's crop shape); without it, torch."""
    from parawire.executor.protocol import SOURCE
    from parawire.executor.segments import Segment
    from parawire.executor.tiles import same_tiling, stage_call
    from parawire.network.tiled import gather

    t = unit.tiling
    if t is None:
        return {}
    if t.depth is not None:
        raise ParawireError("plan.tiling: an imported model's tiles run as one stage; rebuild the plan")
    grid = tiles.grid(t.rows, t.cols, t.threshold)
    if not same_tiling(grid, t):
        raise ParawireError("plan.tiling does not match the model's trace here; rebuild the plan")
    blocks: dict = {}
    if unit.unit < t.tiles:
        outputs = tuple(t.part((f, unit.unit, None)) for f in grid.frontier)
        blocks[Segment(outputs, (SOURCE,), outputs)] = stage_call(tiles.stack(grid, unit.unit).eval(), compile_module)
    for f in t.frontier:
        if f in unit.preds:
            blocks[f] = lambda pieces: gather(pieces, t.rows, t.cols)
    return blocks
