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
* **Boxes**: walking the tiled vertices backwards, a vertex's box on a tile is the
  smallest rectangle holding what its tiled successors need of it on that tile (and its
  own tile when it is on the frontier). Through a block: its 3×3 depthwise conv
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
class TileGrid:
    """One tiling of an architecture's high-resolution prefix.

    ``boxes[t][v]`` is the part of vertex v's map that tile ``t`` computes (its tile plus
    halo), ``owned[t][f]`` the part of frontier map ``f`` it contributes to the gather,
    ``crops[t]`` the part of the image it receives. Tiles are numbered row-major.
    """

    rows: int
    cols: int
    threshold: int
    tiled: tuple[int, ...]
    frontier: tuple[int, ...]
    boxes: tuple[dict[int, Box], ...]
    owned: tuple[dict[int, Box], ...]
    crops: tuple[Box, ...]

    @property
    def tiles(self) -> int:
        return self.rows * self.cols


def _hull(a: Box | None, b: Box) -> Box:
    if a is None:
        return b
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def tile_grid(layout: Layout, rows: int, cols: int, threshold: int) -> TileGrid:
    """Boxes of every tiled vertex on each of ``rows × cols`` tiles (module docstring)."""
    if rows < 1 or cols < 1:
        raise ParawireError(f"tile grid: got {rows}×{cols}; rows and cols must be at least 1")
    tiled = tiled_vertices(layout, threshold)
    if not tiled:
        raise ParawireError(f"tile threshold: got {threshold}; no map has that many rows"
                            f" (the stem's has {int(layout.out_shape[layout.dag.input][1])})")
    edge = frontier(layout, tiled)
    small = [f for f in edge if layout.out_shape[f][1] < rows or layout.out_shape[f][2] < cols]
    if small:
        _, h, w = (int(x) for x in layout.out_shape[small[0]])
        raise ParawireError(f"tile grid: {rows}×{cols} does not fit vertex {small[0]}'s {h}×{w} map;"
                            " use fewer tiles or a higher threshold")
    boxes, owned, crops = [], [], []
    for i in range(rows):
        for j in range(cols):
            mine = {}
            for f in edge:
                _, h, w = (int(x) for x in layout.out_shape[f])
                rs, cs = splits(h, rows), splits(w, cols)
                mine[f] = (rs[i], rs[i + 1], cs[j], cs[j + 1])
            need, crop = _back(layout, tiled, mine)
            boxes.append(need)
            owned.append(mine)
            crops.append(crop)
    return TileGrid(rows, cols, threshold, tiled, edge, tuple(boxes), tuple(owned), tuple(crops))


def _back(layout: Layout, tiled: tuple[int, ...], owned: dict[int, Box]) -> tuple[dict[int, Box], Box]:
    """Every tiled vertex's box for one tile, and the image crop, from its frontier tiles."""
    dag = layout.dag
    need: dict[int, Box] = dict(owned)
    crop: Box | None = None
    for v in reversed(tiled):
        r0, r1, c0, c1 = need[v]
        if v == dag.input:
            _, h, w = layout.in_shape[v]
            s = layout.stem_stride
            crop = (*conv_input(r0, r1, int(h), s), *conv_input(c0, c1, int(w), s))
            continue
        _, h, w = (int(x) for x in layout.in_shape[v])
        s = 2 if layout.staged[v] else 1
        a0, a1 = conv_input(r0, r1, h, s)
        b0, b1 = conv_input(c0, c1, w, s)
        pooled = {sc.pred for sc in layout.scaling.get(v, ()) if sc.pool_to is not None}
        for p in dag.preds[v]:
            box = (a0, a1, b0, b1)
            if p in pooled:
                _, ph, pw = (int(x) for x in layout.out_shape[p])
                box = (*pool_input(a0, a1, ph, h), *pool_input(b0, b1, pw, w))
            need[p] = _hull(need.get(p), box)
    assert crop is not None  # the stem is tiled whenever anything is
    return need, crop
