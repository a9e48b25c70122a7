"""The torch module agrees with the analytical layout and costs, and one seed fixes it."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from parawire.errors import ParawireError
from parawire.graph.dag import to_dag
from parawire.graph.spec import ArchitectureSpec
from parawire.network.architecture import Architecture
from parawire.network.cost import costs
from parawire.network.nn import ScalingBlock, build_network
from parawire.network.shapes import layout
from parawire.pipeline.build import build_architecture
from parawire.registry.manager import get_plugins
from torch.utils.flop_counter import FlopCounterMode

GENERATORS = get_plugins().generators.names()
STAGINGS = ["uniform", "greedy", "probabilistic"]
NODES = {"fb": 17}  # three WS(k=4) stages and two merge vertices need at least 17


def small(generator: str, staging: str, seed: int, **kw) -> Architecture:
    spec = ArchitectureSpec(
        generator=generator, staging=staging, seed=seed, nodes=NODES.get(generator, 12),
        base_channels=8, channel_cap=64, **kw,
    )
    return build_architecture(spec)


def run_blocks(net, arch, x):
    """Call every block in topological order; per vertex: output and counted FLOPs."""
    outputs, flops = {}, {}
    for v in arch.dag.order:
        inputs = [outputs[p] for p in arch.dag.preds[v]] or [x]
        with FlopCounterMode(display=False) as counter:
            outputs[v] = net.blocks[str(v)](inputs)
        flops[v] = counter.get_total_flops()
    return outputs, flops


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("staging", STAGINGS)
@pytest.mark.parametrize("generator", GENERATORS)
def test_module_matches_layout_and_costs(generator, staging, seed):
    arch = small(generator, staging, seed)
    net = build_network(arch).eval()
    outputs, flops = run_blocks(net, arch, torch.randn(1, 3, 32, 32))
    for v in arch.dag.order:
        block = net.blocks[str(v)]
        assert sum(p.numel() for p in block.parameters()) == arch.costs.params[v], v
        assert flops[v] == 2 * arch.costs.flops[v], v  # FlopCounterMode: 2 per MAC
        expected = tuple(arch.layout.out_shape[v])
        got = outputs[v].shape[1:] if v != arch.dag.output else (outputs[v].shape[1], 1, 1)
        assert tuple(got) == expected, v
    assert sum(p.numel() for p in net.parameters()) == arch.costs.total_params


@pytest.mark.parametrize("aggregation", ["sigmoid-inputs", "sigmoid-weights"])
def test_forward_is_deterministic_for_a_seed(aggregation):
    arch = small("er", "probabilistic", 4, aggregation=aggregation)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    a, b = build_network(arch).eval(), build_network(arch).eval()
    with torch.no_grad():
        ya, yb = a(x), b(x)
    assert ya.shape == (2, 10)
    assert torch.equal(ya, yb)
    other = build_network(small("er", "probabilistic", 5, aggregation=aggregation)).eval()
    with torch.no_grad():
        assert not torch.equal(other(x), ya)


def test_full_forward_equals_blockwise_run():
    arch = small("ws", "greedy", 2)
    net = build_network(arch).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        outputs, _ = run_blocks(net, arch, x)
        assert torch.equal(net(x), outputs[arch.dag.output])


def test_subset_network_has_bit_identical_weights():
    arch = small("ba", "probabilistic", 3)
    full = build_network(arch)
    subset = [0, 5, arch.dag.output]
    part = build_network(arch, vertices=subset)
    assert sorted(part.blocks.keys()) == sorted(str(v) for v in subset)
    full_state = full.state_dict()
    for name, tensor in part.state_dict().items():
        assert torch.equal(tensor, full_state[name]), name


def test_subset_network_refuses_a_whole_forward_and_unknown_vertices():
    arch = small("er", "greedy", 0)
    with pytest.raises(ParawireError, match="subset"):
        build_network(arch, vertices=[0])(torch.randn(1, 3, 32, 32))
    with pytest.raises(ParawireError, match=r"vertices: got \[99\]"):
        build_network(arch, vertices=[0, 99])


def test_scaling_blocks_are_built_exactly_where_the_layout_puts_them():
    spec = ArchitectureSpec(nodes=4, base_channels=8, channel_cap=64)
    dag = to_dag(nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3)]))
    flags = torch.zeros(6, dtype=torch.bool).numpy()
    flags[1] = True
    shapes = layout(spec, dag, flags)
    net = build_network(Architecture(spec, dag, shapes, costs(shapes)))
    found = {
        name.split(".")[0]
        for name, module in net.blocks.named_modules()
        if isinstance(module, ScalingBlock)
    }
    assert found == {"3"}
    assert list(net.blocks["3"].aggregate.scale.keys()) == ["1"]  # position of pred 2


@pytest.mark.slow
@pytest.mark.parametrize("generator", GENERATORS)
def test_paper_sized_networks_match_costs(generator):
    spec = ArchitectureSpec(
        generator=generator, nodes=40, input_shape=(3, 224, 224), classes=102, seed=1
    )
    arch = build_architecture(spec)
    net = build_network(arch).eval()
    assert sum(p.numel() for p in net.parameters()) == arch.costs.total_params
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        assert net(torch.randn(1, 3, 224, 224)).shape == (1, 102)
    assert counter.get_total_flops() == 2 * arch.costs.total_flops
