"""Halo arithmetic against hand-derived boxes, and tiles gathered == the whole map."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from parawire.errors import ParawireError
from parawire.graph.dag import to_dag
from parawire.graph.spec import ArchitectureSpec
from parawire.network.architecture import assemble
from parawire.network.halo import (
    conv_input,
    frontier,
    pool_input,
    splits,
    tile_grid,
    tiled_vertices,
)
from parawire.network.nn import build_network
from parawire.network.tiled import gather, merge, pool_box, run_tiles
from parawire.pipeline.build import build_architecture

from normalised import normalised


def hand_made(edges, staged, size=8, nodes=None):
    dag = to_dag(nx.DiGraph(edges))
    flags = np.zeros(dag.graph.number_of_nodes(), dtype=bool)
    flags[list(staged)] = True
    spec = ArchitectureSpec(nodes=dag.nodes, base_channels=4, channel_cap=16, classes=3,
                            input_shape=(3, size, size))
    return assemble(spec, dag, flags)


def test_conv_and_pool_spans_by_hand():
    assert conv_input(0, 4, 8, 1) == (0, 5)  # row −1 is the conv's padding
    assert conv_input(2, 4, 8, 2) == (3, 8)  # output rows 2, 3 read rows 3..7
    assert conv_input(3, 4, 7, 2) == (5, 7)  # row 7 would be padding: clipped
    assert pool_input(0, 1, 7, 4) == (0, 2)  # PyTorch's windows for 7 → 4: [0,2) [1,4) [3,6) [5,7)
    assert pool_input(1, 2, 7, 4) == (1, 4)
    assert pool_input(3, 4, 7, 4) == (5, 7)
    assert pool_input(1, 3, 8, 4) == (2, 6)
    assert splits(7, 2) == [0, 3, 7]
    assert splits(5, 3) == [0, 1, 3, 5]


def test_chain_with_a_stride_two_block_by_hand():
    # image 8×8 → stem (stride 1) 8×8 → v0 (staged) 4×4 → v1 4×4 → output
    arch = hand_made([(0, 1)], staged=[0])
    stem = arch.dag.input
    grid = tile_grid(arch.layout, 1, 2, threshold=4)
    out = arch.dag.output  # every other vertex is tiled: the output is reduced, one partial sum per tile
    assert grid.reduced and grid.tiled == (stem, 0, 1, out) and grid.frontier == (out,)
    assert grid.owned[0][out] == (0, 4, 0, 2) and grid.stages == (grid.tiled,) and grid.parts[0].map == out
    left, right = grid.boxes
    assert left[1] == (0, 4, 0, 2) and right[1] == (0, 4, 2, 4)
    assert left[0] == (0, 4, 0, 3)  # one column of halo at 4×4
    assert right[0] == (0, 4, 1, 4)
    assert left[stem] == (0, 8, 0, 6)  # stride 2: columns 0..5 of the 8×8 map
    assert right[stem] == (0, 8, 1, 8)
    assert grid.crops == ((0, 8, 0, 7), (0, 8, 0, 8))


def test_stages_exchange_only_the_halos_by_hand():
    # the chain above in stages of one level: stem | v0 | v1 | output, on a 1×2 grid
    arch = hand_made([(0, 1)], staged=[0])
    stem, out = arch.dag.input, arch.dag.output
    grid = tile_grid(arch.layout, 1, 2, threshold=4, depth=1)
    assert grid.stages == ((stem,), (0,), (1,), (out,))
    assert grid.reads == ((), (stem,), (0,), (1,))
    left, right = grid.needs
    assert left == {stem: (0, 8, 0, 4), 0: (0, 4, 0, 3), 1: (0, 4, 0, 2)}  # v0's stride 2 reads no halo on the left
    assert right == {stem: (0, 8, 3, 8), 0: (0, 4, 1, 4), 1: (0, 4, 2, 4)}
    halos = {(p.map, p.src, p.dst): p.box for p in grid.parts if p.dst is not None}
    assert halos == {(stem, 0, 1): (0, 8, 3, 4), (0, 0, 1): (0, 4, 1, 2), (0, 1, 0): (0, 4, 2, 3)}
    # one level per stage: each tile computes its own region only, nothing twice
    assert all(grid.boxes[t][v] == grid.owned[t][v] for t in range(2) for v in grid.tiled)
    assert grid.crops == ((0, 8, 0, 5), (0, 8, 3, 8))
    with pytest.raises(ParawireError, match="tile depth: got 0"):
        tile_grid(arch.layout, 1, 2, threshold=4, depth=0)


def test_diamond_with_a_pooled_input_by_hand():
    # 0 (8×8) → 1 (staged, 4×4); 2 takes 0 (max-pooled 8 → 4) and 1
    arch = hand_made([(0, 1), (0, 2), (1, 2)], staged=[1])
    assert [s.pred for s in arch.layout.scaling[2]] == [0]
    grid = tile_grid(arch.layout, 2, 1, threshold=4)
    assert grid.frontier == (arch.dag.output,)
    top, bottom = grid.boxes
    assert top[2] == (0, 2, 0, 4) and bottom[2] == (2, 4, 0, 4)
    assert top[1] == (0, 3, 0, 4) and bottom[1] == (1, 4, 0, 4)
    # v0: the pool's windows for rows 0..2 of 4 (rows 0..5) and what v1's stride-2 conv reads
    assert top[0] == (0, 6, 0, 8) and bottom[0] == (1, 8, 0, 8)


def test_threshold_picks_a_prefix_and_its_frontier():
    arch = build_architecture(ArchitectureSpec(generator="dp", nodes=12, seed=1, input_shape=(3, 64, 64)))
    layout = arch.layout
    for t in (8, 16, 32, 64):
        tiled = tiled_vertices(layout, t)
        inside = set(tiled)
        assert all(set(arch.dag.preds[v]) <= inside for v in tiled)
        assert all(layout.out_shape[v][1] >= t for v in tiled)
        assert set(frontier(layout, tiled)) == {v for v in tiled if set(arch.dag.succs[v]) - inside}


def test_bad_grids_are_one_line():
    arch = hand_made([(0, 1)], staged=[0])
    with pytest.raises(ParawireError, match=r"tile grid: 5×1 does not fit vertex 3's 4×4 map"):
        tile_grid(arch.layout, 5, 1, threshold=4)
    with pytest.raises(ParawireError, match="tile threshold: got 9; no map has that many rows"):
        tile_grid(arch.layout, 1, 2, threshold=9)
    with pytest.raises(ParawireError, match="rows and cols must be at least 1"):
        tile_grid(arch.layout, 0, 2, threshold=4)


def test_pool_on_a_box_equals_the_whole_pool_for_uneven_sizes():
    x = torch.randn(1, 2, 7, 9)
    whole = torch.nn.AdaptiveMaxPool2d((4, 5))(x)
    have = (1, 7, 1, 9)  # the tensor holds rows 1..6, columns 1..8: what outputs 1.. need
    got = pool_box(x[..., 1:, 1:], have, (1, 4, 1, 5), (7, 9), (4, 5))
    assert torch.equal(got, whole[..., 1:4, 1:5])


def maps(net, x):
    """Every vertex's output of the whole network."""
    dag, out = net.arch.dag, {}
    for v in dag.order:
        out[v] = net.blocks[str(v)]([out[p] for p in dag.preds[v]] if dag.preds[v] else [x])
    return out


CASES = [  # generator, image size, grid, threshold: odd sizes, 1×k, k×1, 2×2, 2×3, stride-2 stems
    ("dp", 35, (1, 3), 9),
    ("er", 33, (2, 2), 9),
    ("ws", 31, (3, 1), 8),
    ("ba", 40, (2, 3), 5),
    ("sbm", 32, (2, 2), 8),
    ("chain", 29, (1, 2), 8),
    ("fb", 33, (2, 2), 9),
    ("fb", 130, (1, 4), 33),
    ("dp", 129, (2, 2), 17),
]


@pytest.mark.parametrize("depth", [None, 1, 2])
@pytest.mark.parametrize(("generator", "size", "grid", "threshold"), CASES)
def test_tiles_gathered_equal_the_whole_map(generator, size, grid, threshold, depth):
    spec = ArchitectureSpec(generator=generator, nodes=18 if generator == "fb" else 10, seed=3,
                            base_channels=8, input_shape=(3, size, size))
    arch = build_architecture(spec)
    net = normalised(build_network(arch))  # logits that depend on the image
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    tiles = tile_grid(arch.layout, *grid, threshold, depth)
    assert len(tiles.tiled) > 1
    with torch.inference_mode():
        whole = maps(net, x)
        parts = run_tiles(net, tiles, x)
        got = {f: merge(net, tiles, f, [parts[f, t, None] for t in range(tiles.tiles)]) for f in tiles.frontier}
    for f, got in got.items():  # a map, or under a reduced output the logits
        assert got.shape == whole[f].shape
        assert float((got - whole[f]).abs().max()) <= 1e-4 * float(whole[f].abs().max())
