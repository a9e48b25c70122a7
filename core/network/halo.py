"""Which part of every high-resolution map one image tile needs: exact halos.

Why: on slow links the large tensors are the high-resolution ones (the stem's output at
224 px is 3.2 MB), and a graph partition must cut exactly those. Fused tile
partitioning (DeepThings) splits the *maps* instead: each device runs the vertices
above a resolution threshold on its own tile of the image plus the halo their receptive
fields need, with no exchange until the threshold, where the tiles are gathered. This
module is the arithmetic of that split, torch-free (the latency model and the planner
use it too); :mod:`parawire.network.tiled` computes on the boxes it gives.

* **Tiled vertices** at threshold ``t``: every vertex but the output whose map has at
  least ``t`` rows. Spatial sizes never grow along an edge (aggregation takes the
  smallest input, a block keeps or halves it), so the set is closed under
  predecessors: a prefix of the DAG, the stem first.
* **Frontier**: the tiled vertices with a successor that is not tiled; their maps are
  what the gather moves. Each frontier map is split into the grid's ``rows × cols``
  tiles (row ``i`` of ``rows`` is ``[⌊i·H/rows⌋, ⌊(i+1)·H/rows⌋)``, so tiles of odd maps
  differ by one row); tile ``t`` of every frontier map belongs to device ``t``.
* **Reduced output**: when every other vertex is tiled, the output vertex is tiled too.
  Its aggregation is position-wise and its global average pool is a sum, so each tile
  sums its own region of the aggregated map and the gather moves one vector per tile
  (the classifier runs on their sum). At 224 px this replaces a gather of megabytes.
* **Stages** (``depth``): one fused stack recomputes a halo that grows with every 3×3
  conv (FB-40's 41 levels on 2×2 tiles: 3.2× the work). Cutting the tiled vertices by
  longest-path level into stages of ``depth`` levels bounds that growth: a stage reads
  the *shared* maps of earlier stages (those a later stage or an untiled vertex reads) on
  the box it needs, put together from every tile's owned region of them, so between
  stages only the halo rows and columns travel, neighbour to neighbour (MoDNN's layer
  split, DeepThings' fusion within a stage). ``depth`` 1 computes nothing twice and
  exchanges after every level; the latency model picks the depth.
* **Boxes**: walking the tiled vertices backwards, a vertex's box on a tile is the
  smallest rectangle holding what its tiled successors need of it on that tile (and its
  own tile when it is shared); a stage's reads of earlier maps are hulled the same way
  into ``needs``. Through a block: its 3×3 depthwise conv
  (padding 1, stride 1 or 2) needs rows ``[a·s − 1, (b − 1)·s + 2)`` of the aggregated
  map for output rows ``[a, b)``, clipped to the map (the conv's zero padding supplies
  the rest); the pointwise conv, BatchNorm, ReLU, the weighted sum and a scaling block's
  1×1 conv need the same position; a scaling block's adaptive max-pool from ``H`` to
  ``h`` needs PyTorch's windows ``[⌊a·H/h⌋, ⌈b·H/h⌉)``. The stem's box gives the
  image crop a device receives. A box may be larger than some consumer needs (a
  rectangle holding two needs); computing more of a map is still exact.
"""

from __future__ import annotations

from dataclasses import dataclass

from parawire.errors import ParawireError
from parawire.network.shapes import Layout

Box = tuple[int, int, int, int]
"""Rows ``[r0, r1)`` and columns ``[c0, c1)`` of a map: ``(r0, r1, c0, c1)``."""

KERNEL, PADDING = 3, 1
"""Every spatial conv of the network (stem, depthwise): 3×3, padding 1."""


def conv_input(lo: int, hi: int, size: int, stride: int) -> tuple[int, int]:
    """Input span ``[lo', hi')`` (clipped to ``size``) a 3×3 conv, padding 1, needs for output span ``[lo, hi)``."""
    return max(0, lo * stride - PADDING), min(size, (hi - 1) * stride - PADDING + KERNEL)


def conv_box_input(out: Box, size: tuple[int, int], stride: int) -> tuple[Box, tuple[int, int, int, int]]:
    """The input box a 3×3, padding-1 conv over a map of ``size`` reads for output box
    ``out``, and the zero padding (top, left, bottom, right) that box still needs: only
    where it runs past the map's edge, where the whole-map conv's own padding would be."""
    need = (*conv_input(out[0], out[1], size[0], stride), *conv_input(out[2], out[3], size[1], stride))
    top = max(0, PADDING - out[0] * stride)
    left = max(0, PADDING - out[2] * stride)
    bottom = (out[1] - out[0] - 1) * stride + KERNEL - top - (need[1] - need[0])
    right = (out[3] - out[2] - 1) * stride + KERNEL - left - (need[3] - need[2])
    return need, (top, left, bottom, right)


def pool_input(lo: int, hi: int, size: int, out: int) -> tuple[int, int]:
    """Input span an adaptive max-pool from ``size`` to ``out`` needs for output span ``[lo, hi)``."""
    return lo * size // out, -(-hi * size // out)


def splits(size: int, parts: int) -> list[int]:
    """Cut points of ``size`` into ``parts`` near-equal spans (``parts + 1`` values)."""
    return [i * size // parts for i in range(parts + 1)]


def area(box: Box) -> int:
    return (box[1] - box[0]) * (box[3] - box[2])


def tiled_vertices(layout: Layout, threshold: int) -> tuple[int, ...]:
    """Vertices (topological order) whose maps have at least ``threshold`` rows; never the output."""
    dag = layout.dag
    return tuple(v for v in dag.order if v != dag.output and int(layout.out_shape[v][1]) >= threshold)


def frontier(layout: Layout, tiled: tuple[int, ...]) -> tuple[int, ...]:
    """The tiled vertices some untiled vertex consumes (topological order)."""
    inside = set(tiled)
    return tuple(v for v in tiled if any(s not in inside for s in layout.dag.succs[v]))


@dataclass(frozen=True)
class Part:
    """One tile's part of a shared map, as it travels: ``dst`` None is tile ``src``'s own
    region (``owned``), kept for its later stages and sent whole to the units that gather
    the map; otherwise the halo rows and columns tile ``dst`` needs of it."""

    map: int
    src: int
    dst: int | None
    box: Box


@dataclass(frozen=True)
class TileGrid:
    """One tiling of an architecture's high-resolution prefix.

    ``boxes[t][v]`` is the part of vertex v's map that tile ``t`` computes (its tile plus
    halo), ``owned[t][m]`` its own region of every *shared* map ``m`` (one a later stage
    or an untiled vertex reads), ``needs[t][m]`` the box of shared map ``m`` its later
    stages read (put together from every tile's owned region), ``crops[t]`` the part of
    the image it receives. Tiles are numbered row-major. ``stages`` cut the tiled
    vertices into runs with an exchange of halos between them (``depth`` levels each;
    None: one stage, no exchange). ``reduced``: the output vertex is tiled too, each tile
    summing its owned region of the output's aggregated map, so the gather moves one
    vector per tile instead of the maps.
    """

    rows: int
    cols: int
    threshold: int
    tiled: tuple[int, ...]
    frontier: tuple[int, ...]
    boxes: tuple[dict[int, Box], ...]
    owned: tuple[dict[int, Box], ...]
    crops: tuple[Box, ...]
    depth: int | None = None
    stages: tuple[tuple[int, ...], ...] = ()
    needs: tuple[dict[int, Box], ...] = ()
    reads: tuple[tuple[int, ...], ...] = ()
    """Per stage, the shared maps of earlier stages it reads (topological order)."""
    reduced: bool = False
    parts: tuple[Part, ...] = ()
    """Every part a stage call produces, stage by stage: each shared map's owned regions
    (tile order), then its halos (source tile, then destination)."""

    @property
    def tiles(self) -> int:
        return self.rows * self.cols

    def part_box(self, m: int, src: int, dst: int | None) -> Box:
        """The region of map ``m`` that part ``(m, src, dst)`` holds: ``src``'s owned
        region, or the halo of it that ``dst`` reads."""
        return self.owned[src][m] if dst is None else meet(self.owned[src][m], self.needs[dst][m])

    def sources(self, tile: int, m: int) -> tuple[int, ...]:
        """The tiles whose owned regions of shared map ``m`` tile ``tile`` reads (row-major)."""
        return tuple(s for s in range(self.tiles) if meet(self.owned[s][m], self.needs[tile][m]) is not None)


def meet(a: Box, b: Box) -> Box | None:
    """The intersection of two boxes, None when empty."""
    box = max(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), min(a[3], b[3])
    return box if box[0] < box[1] and box[2] < box[3] else None


def hull(a: Box | None, b: Box) -> Box:
    """The smallest box holding ``a`` (None: nothing yet) and ``b``."""
    if a is None:
        return b
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def levels(layout: Layout, vertices: tuple[int, ...]) -> dict[int, int]:
    """Longest-path level of each of ``vertices`` (topological order) among themselves, the first at 0."""
    level: dict[int, int] = {}
    for v in vertices:
        level[v] = 1 + max((level[p] for p in layout.dag.preds[v] if p in level), default=-1)
    return level


def tile_box(shape: tuple[int, int], rows: int, cols: int, i: int, j: int) -> Box:
    """Tile ``(i, j)``'s own region of a map of ``shape`` on a ``rows × cols`` grid."""
    rs, cs = splits(shape[0], rows), splits(shape[1], cols)
    return rs[i], rs[i + 1], cs[j], cs[j + 1]


def aggregated_box(layout: Layout, v: int, box: Box) -> Box:
    """The box of vertex v's aggregated map that its output ``box`` reads: what its 3×3
    conv (stride 1 or 2) needs, or for a reduced output the same positions."""
    if v == layout.dag.output:
        return box
    _, h, w = (int(x) for x in layout.in_shape[v])
    s = 2 if layout.staged[v] else 1
    return (*conv_input(box[0], box[1], h, s), *conv_input(box[2], box[3], w, s))


def input_box(layout: Layout, v: int, p: int, agg: Box) -> Box:
    """The box of input ``p``'s map that the ``agg`` box of v's aggregation reads: the
    same positions, or the windows of the adaptive max-pool of p's scaling block."""
    if not any(sc.pred == p and sc.pool_to is not None for sc in layout.scaling.get(v, ())):
        return agg
    _, h, w = (int(x) for x in layout.in_shape[v])
    _, ph, pw = (int(x) for x in layout.out_shape[p])
    return (*pool_input(agg[0], agg[1], ph, h), *pool_input(agg[2], agg[3], pw, w))


def tile_grid(layout: Layout, rows: int, cols: int, threshold: int, depth: int | None = None) -> TileGrid:
    """Boxes of every tiled vertex on each of ``rows × cols`` tiles (module docstring),
    in stages of ``depth`` levels (None: one stage)."""
    if rows < 1 or cols < 1:
        raise ParawireError(f"tile grid: got {rows}×{cols}; rows and cols must be at least 1")
    if depth is not None and depth < 1:
        raise ParawireError(f"tile depth: got {depth}; use at least 1 level per stage, or none for one stage")
    dag = layout.dag
    tiled = tiled_vertices(layout, threshold)
    if not tiled:
        raise ParawireError(f"tile threshold: got {threshold}; no map has that many rows"
                            f" (the stem's has {int(layout.out_shape[dag.input][1])})")
    reduced = all(p in set(tiled) for p in dag.preds[dag.output])
    if reduced:
        tiled = (*tiled, dag.output)
    level = levels(layout, tiled)
    stage = {v: 0 if depth is None else level[v] // depth for v in tiled}
    stages = tuple(tuple(v for v in tiled if stage[v] == k) for k in sorted(set(stage.values())))
    inside = set(tiled)
    edge = frontier(layout, tiled) + ((dag.output,) if reduced else ())
    shared = tuple(v for v in tiled if v in edge or any(s in inside and stage[s] > stage[v] for s in dag.succs[v]))
    spans = {m: map_size(layout, m) for m in shared}
    small = [m for m in shared if spans[m][0] < rows or spans[m][1] < cols]
    if small:
        h, w = spans[small[0]]
        raise ParawireError(f"tile grid: {rows}×{cols} does not fit vertex {small[0]}'s {h}×{w} map;"
                            " use fewer tiles or a higher threshold")
    boxes, owned, needs, crops = [], [], [], []
    for i in range(rows):
        for j in range(cols):
            mine = {m: tile_box(spans[m], rows, cols, i, j) for m in shared}
            need, later, crop = _back(layout, tiled, stage, mine)
            boxes.append(need)
            owned.append(mine)
            needs.append(later)
            crops.append(crop)
    reads = tuple(tuple(m for m in shared if stage[m] < k and any(m in dag.preds[v] for v in vs))
                  for k, vs in enumerate(stages))
    return TileGrid(rows, cols, threshold, tiled, edge, tuple(boxes), tuple(owned), tuple(crops), depth, stages,
                    tuple(needs), reads, reduced, parts_of(shared, owned, needs))


def parts_of(shared: tuple[int, ...], owned: list[dict[int, Box]], needs: list[dict[int, Box]]) -> tuple[Part, ...]:
    """:attr:`TileGrid.parts`: per shared map, each tile's owned region, then each halo a
    tile's later stages read of another's region."""
    tiles = range(len(owned))
    out: list[Part] = []
    for m in shared:
        out += [Part(m, s, None, owned[s][m]) for s in tiles]
        out += [Part(m, s, t, box) for s in tiles for t in tiles
                if t != s and m in needs[t] and (box := meet(owned[s][m], needs[t][m]))]
    return tuple(out)


def map_size(layout: Layout, v: int) -> tuple[int, int]:
    """The map a tile's region of ``v`` is cut from: its output, or for the output vertex its aggregated map."""
    shape = layout.in_shape[v] if v == layout.dag.output else layout.out_shape[v]
    return int(shape[1]), int(shape[2])


def _back(layout: Layout, tiled: tuple[int, ...], stage: dict[int, int],
          owned: dict[int, Box]) -> tuple[dict[int, Box], dict[int, Box], Box]:
    """One tile's box of every tiled vertex, the boxes of shared maps its later stages
    read, and its image crop, from its owned regions."""
    dag = layout.dag
    need: dict[int, Box] = {}
    later: dict[int, Box] = {}
    crop: Box | None = None
    for v in reversed(tiled):
        box = need[v] = hull(need.get(v), owned[v]) if v in owned else need[v]
        if v == dag.input:
            _, h, w = (int(x) for x in layout.in_shape[v])
            crop = conv_box_input(box, (h, w), layout.stem_stride)[0]
            continue
        agg = aggregated_box(layout, v, box)
        for p in dag.preds[v]:
            req = input_box(layout, v, p, agg)
            if stage[p] == stage[v]:
                need[p] = hull(need.get(p), req)
            else:
                later[p] = hull(later.get(p), req)
    assert crop is not None  # the stem is tiled whenever anything is
    return need, later, crop
