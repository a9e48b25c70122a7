"""Shapes and analytical costs on hand-made DAGs whose numbers can be worked out by hand."""

from __future__ import annotations

import networkx as nx
import numpy as np
from parawire.graph.dag import to_dag
from parawire.graph.spec import ArchitectureSpec
from parawire.network.cost import costs
from parawire.network.shapes import Scaling, layout
from parawire.pipeline.build import build_architecture


def diamond():
    """0 → {1, 2} → 3; input vertex 4, output vertex 5."""
    return to_dag(nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3)]))


def flags_at(*vertices, size=6):
    flags = np.zeros(size, dtype=bool)
    flags[list(vertices)] = True
    return flags


def test_no_scaling_where_input_shapes_agree():
    spec = ArchitectureSpec(nodes=4, base_channels=8, channel_cap=64)
    assert layout(spec, diamond(), flags_at()).scaling == {}


def test_scaling_pools_and_widens_exactly_the_mismatched_input():
    spec = ArchitectureSpec(nodes=4, base_channels=8, channel_cap=64)
    shapes = layout(spec, diamond(), flags_at(1))
    assert shapes.out_shape[1].tolist() == [16, 16, 16]
    assert shapes.out_shape[2].tolist() == [8, 32, 32]
    assert shapes.in_shape[3].tolist() == [16, 16, 16]
    assert shapes.scaling == {3: (Scaling(pred=2, pool_to=(16, 16), channels=(8, 16)),)}


def test_scaling_at_the_cap_only_pools():
    spec = ArchitectureSpec(nodes=4, base_channels=8, channel_cap=8)
    shapes = layout(spec, diamond(), flags_at(1))
    assert shapes.scaling == {3: (Scaling(pred=2, pool_to=(16, 16), channels=None),)}


def test_scaling_channel_only_and_at_the_output_vertex():
    # 0 → 1 and 0 → 2 → (output); 1 stages at the cap-free width, 2 does not.
    spec = ArchitectureSpec(nodes=3, base_channels=8, channel_cap=64)
    dag = to_dag(nx.DiGraph([(0, 1), (0, 2)]))
    shapes = layout(spec, dag, flags_at(1, size=5))
    assert shapes.scaling == {4: (Scaling(pred=2, pool_to=(16, 16), channels=(8, 16)),)}
    assert shapes.out_shape[4].tolist() == [10, 1, 1]


def test_stem_stride_two_from_128_pixels():
    dag = to_dag(nx.path_graph(2))
    small = layout(ArchitectureSpec(nodes=2, input_shape=(3, 32, 32)), dag, flags_at(size=4))
    large = layout(ArchitectureSpec(nodes=2, input_shape=(3, 224, 224)), dag, flags_at(size=4))
    assert small.out_shape[2].tolist() == [64, 32, 32]
    assert large.out_shape[2].tolist() == [64, 112, 112]
    assert (small.stem_stride, large.stem_stride) == (1, 2)


def test_odd_sizes_round_up_when_staging():
    spec = ArchitectureSpec(nodes=2, input_shape=(3, 7, 5), base_channels=4, channel_cap=16)
    dag = to_dag(nx.path_graph(2))
    out = layout(spec, dag, flags_at(0, 1, size=4)).out_shape
    assert out[:2].tolist() == [[8, 4, 3], [16, 2, 2]]


def test_costs_of_a_two_block_chain_by_hand():
    # input 3×8×8, stem → 4×8×8, blocks 0 → 1 (no stage), linear to 2 classes.
    spec = ArchitectureSpec(nodes=2, input_shape=(3, 8, 8), classes=2, base_channels=4)
    c = costs(layout(spec, to_dag(nx.path_graph(2)), flags_at(size=4)))
    # vertex ids: blocks 0, 1, stem 2, output 3
    block = 1 + 4 * 9 + 4 * 4 + 2 * 4
    assert c.params.tolist() == [block, block, 3 * 4 * 9 + 2 * 4, 1 + 4 * 2 + 2]
    block = 4 * 64 * 9 + 4 * 64 * 4
    assert c.flops.tolist() == [block, block, 4 * 64 * 3 * 9, 4 * 2]
    assert c.out_bytes.tolist() == [4 * 4 * 64] * 3 + [4 * 2]
    assert c.params.dtype == c.flops.dtype == c.out_bytes.dtype == np.int64


def test_costs_count_the_scaling_conv_at_the_consumer():
    spec = ArchitectureSpec(nodes=4, base_channels=8, channel_cap=64)
    dag = diamond()
    plain = costs(layout(spec, dag, flags_at()))
    staged = costs(layout(spec, dag, flags_at(1)))
    # vertex 3 sees 16×16×16: 2 aggregation weights, a 8→16 1×1 conv, 16-channel block
    assert staged.params[3] == 2 + 8 * 16 + 16 * 9 + 16 * 16 + 2 * 16
    assert staged.flops[3] == 16 * 16 * 16 * 8 + 16 * 256 * 9 + 16 * 256 * 16
    assert plain.params[3] == 2 + 8 * 9 + 8 * 8 + 2 * 8


def test_build_architecture_is_deterministic():
    spec = ArchitectureSpec(generator="ws", nodes=20, seed=5, input_shape=(3, 224, 224))
    a, b = build_architecture(spec), build_architecture(spec)
    assert (a.costs.params == b.costs.params).all()
    assert (a.layout.staged == b.layout.staged).all()
    assert a.costs.params.shape == (22,)
