"""The hypergraph model: one net {v} ∪ succ(v) per DAG vertex, CSR storage, validation."""

import networkx as nx
import numpy as np
import pytest
from parawire.errors import ParawireError
from parawire.graph.dag import to_dag
from parawire.score.hypergraph import Hypergraph


def net_lists(hg):
    return [hg.pins(e).tolist() for e in range(hg.num_nets)]


def diamond():
    # 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3 ; input 4 -> 0 ; 3 -> output 5
    return to_dag(nx.DiGraph([(0, 1), (0, 2), (1, 3), (2, 3)]))


def test_from_dag_has_one_net_per_vertex_with_successors():
    dag = diamond()
    hg = Hypergraph.from_dag(dag, np.arange(6), np.array([10, 11, 12, 13, 14, 15]))
    nets = {tuple(p) for p in net_lists(hg)}
    assert nets == {(0, 1, 2), (1, 3), (2, 3), (3, 5), (0, 4)}
    by_net = dict(zip(map(tuple, net_lists(hg)), hg.net_costs.tolist()))
    assert by_net[(0, 1, 2)] == 10 and by_net[(0, 4)] == 14 and by_net[(3, 5)] == 13
    assert hg.num_nets == 5  # the output vertex's single-pin net is dropped
    assert hg.net_sources.tolist() == [0, 1, 2, 3, 4]
    assert list(hg.order) == list(dag.order)


def test_incidence_is_the_transpose_of_the_nets():
    hg = Hypergraph.from_dag(diamond(), np.ones(6), np.ones(6))
    for v in range(hg.num_vertices):
        for e in hg.nets_of(v):
            assert v in hg.pins(int(e))
    by_vertex = {(v, int(e)) for v in range(hg.num_vertices) for e in hg.nets_of(v)}
    by_net = {(int(p), e) for e in range(hg.num_nets) for p in hg.pins(e)}
    assert by_vertex == by_net
    assert hg.vertex_ptr[-1] == hg.net_ptr[-1] == len(by_net)


def test_from_arrays_merges_duplicate_pins_and_drops_single_pin_nets():
    hg = Hypergraph.from_arrays(3, [0, 1, 2], [[0, 0, 1], [2], [1, 2]], [5, 6, 7])
    assert net_lists(hg) == [[0, 1], [1, 2]]
    assert hg.net_costs.tolist() == [5, 7]
    assert hg.vertex_weights.dtype == np.int64 and hg.total_weight == 3


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((3, [1, 1], [[0, 1]], [1]), "vertex_weights"),
        ((2, [1, -1], [[0, 1]], [1]), "vertex_weights"),
        ((2, [1, 1], [[0, 1]], [1, 2]), "net_costs"),
        ((2, [1, 1], [[0, 1]], [-3]), "net_costs"),
        ((2, [1, 1], [[0, 2]], [1]), "nets"),
    ],
)
def test_bad_arrays_name_the_field(args, field):
    with pytest.raises(ParawireError, match=field):
        Hypergraph.from_arrays(*args)


@pytest.mark.parametrize("seed", range(4))
def test_a_profile_makes_the_run_placement_balance_predicted_time_not_flops(seed):
    # A profile whose weight term dominates (as ONNX Runtime's does): the hypergraph's
    # weights are the predicted nanoseconds, and the partition balances them within ε.
    import warnings

    from parawire.graph.spec import ArchitectureSpec
    from parawire.latency.model import DeviceProfile, vertex_seconds
    from parawire.pipeline.build import build_architecture
    from parawire.pipeline.placement import partition_architecture
    from parawire.score.hypergraph import hypergraph_of

    profile = DeviceProfile(name="w", flops_per_s=5e10, bandwidth_bytes_per_s=1e9, message_latency_s=0,
                            weight_bytes_per_s=1.5e10, vertex_overhead_s=1e-5)
    arch = build_architecture(ArchitectureSpec(generator="dp", nodes=40, seed=seed, input_shape=(3, 32, 32)))
    seconds = vertex_seconds(arch.dag, arch.costs.flops, arch.costs.out_bytes, profile, arch.costs.params)
    assert hypergraph_of(arch, profile=profile).vertex_weights.tolist() == np.rint(seconds * 1e9).astype(int).tolist()
    assert hypergraph_of(arch).vertex_weights.tolist() == arch.costs.flops.tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a partition outside ε would warn
        part = partition_architecture(arch, 2, eps=0.03, profile=profile)
    loads = np.bincount(part, weights=seconds, minlength=2)
    assert loads.max() / loads.mean() <= 1.03 + 1e-9
