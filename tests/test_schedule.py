"""HEFT, refinement and place(): valid partitions, never worse than easy baselines."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from parawire.errors import ParawireError
from parawire.graph.dag import to_dag
from parawire.latency.model import DeviceProfile, lower_bound, simulate, vertex_seconds
from parawire.latency.schedule import MIN_GAIN, heft, place, rank_order, refine, upward_ranks

FAST_NET = DeviceProfile(name="fast", flops_per_s=1.0, bandwidth_bytes_per_s=1e9,
                         message_latency_s=0.01, network="switched")
SLOW_NET = DeviceProfile(name="slow", flops_per_s=1.0, bandwidth_bytes_per_s=0.1,
                         message_latency_s=1.0, network="shared")


def parallel_chains(k: int, length: int):
    """k disjoint chains of ``length`` vertices between the input and output vertex."""
    g = nx.DiGraph()
    g.add_nodes_from(range(k * length))
    for c in range(k):
        g.add_edges_from((c * length + i, c * length + i + 1) for i in range(length - 1))
    return to_dag(g)


def test_upward_rank_counts_compute_and_messages_to_the_output():
    dag = parallel_chains(1, 3)  # input=3 -> 0 -> 1 -> 2 -> output=4
    rank = upward_ranks(dag, np.ones(5), np.full(5, 2.0),
                        DeviceProfile(name="u", flops_per_s=1, bandwidth_bytes_per_s=1,
                                      message_latency_s=0))
    assert rank[[3, 0, 1, 2, 4]].tolist() == [13.0, 10.0, 7.0, 4.0, 1.0]
    assert rank_order(dag, np.ones(5), np.full(5, 2.0), FAST_NET) == [3, 0, 1, 2, 4]


def test_upward_rank_uses_the_simulators_vertex_durations():
    # per-input and memory costs count too, or HEFT estimates a different machine
    dag = to_dag(nx.DiGraph([(0, 2), (1, 2)]))  # input=3 feeds 0 and 1, 2 -> output=4
    profile = DeviceProfile(name="fixed", flops_per_s=1, bandwidth_bytes_per_s=1,
                            message_latency_s=0, vertex_overhead_s=0.5, input_overhead_s=3.0,
                            memory_bytes_per_s=2.0)
    flops, out_bytes = np.ones(5), np.full(5, 2.0)
    compute = vertex_seconds(dag, flops, out_bytes, profile)
    rank = upward_ranks(dag, flops, out_bytes, profile)
    assert rank[4] == compute[4]
    assert rank[2] == compute[2] + 2.0 + compute[4]
    assert compute[2] == 1 + 0.5 + 3.0 + 2.0


def test_heft_spreads_parallel_chains_when_messages_are_cheap():
    dag = parallel_chains(4, 5)
    flops = np.full(22, 10.0)
    flops[[dag.input, dag.output]] = 0
    part = heft(dag, flops, np.ones(22), 4, FAST_NET)
    chains = [set(part[c * 5:(c + 1) * 5].tolist()) for c in range(4)]
    assert all(len(units) == 1 for units in chains)  # no chain is cut
    assert sorted(u for units in chains for u in units) == [0, 1, 2, 3]
    makespan = simulate(dag, flops, np.ones(22), part, FAST_NET)
    # one chain's compute plus the scatter and at most three gathered messages (serial: 200)
    assert 50.0 < makespan < 50.0 + 4 * 0.0101


def test_heft_keeps_everything_together_when_messages_are_dear():
    dag = parallel_chains(2, 3)
    flops = np.ones(8)
    part = heft(dag, flops, np.full(8, 10.0), 2, SLOW_NET)
    assert simulate(dag, flops, np.full(8, 10.0), part, SLOW_NET) == 8.0  # = serial
    assert len(set(part.tolist())) == 1


def test_refine_never_worsens_and_merges_units_when_messages_dominate():
    dag = parallel_chains(2, 3)
    flops, out_bytes = np.ones(8), np.full(8, 10.0)
    split = np.array([0, 1, 0, 1, 0, 1, 0, 1])  # every edge cut
    before = simulate(dag, flops, out_bytes, split, SLOW_NET)
    after = refine(dag, flops, out_bytes, split, 2, SLOW_NET)
    assert simulate(dag, flops, out_bytes, after, SLOW_NET) == 8.0 < before
    assert refine(dag, flops, out_bytes, split, 2, SLOW_NET, max_evals=1).tolist() == split.tolist()


def test_heft_rejects_no_units():
    with pytest.raises(ParawireError, match="^k: got 0"):
        heft(parallel_chains(1, 2), np.ones(4), np.ones(4), 0, FAST_NET)


@st.composite
def instances(draw):
    n = draw(st.integers(1, 12))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=3 * n)) if pairs else []
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges)
    size = n + 2
    flops = np.array(draw(st.lists(st.integers(0, 1000), min_size=size, max_size=size)))
    out_bytes = np.array(draw(st.lists(st.integers(0, 1000), min_size=size, max_size=size)))
    k = draw(st.integers(1, 4))
    profile = DeviceProfile(name="p", flops_per_s=1.0, bandwidth_bytes_per_s=draw(
        st.sampled_from([1.0, 100.0, 1e6])), message_latency_s=draw(st.sampled_from([0.0, 5.0])),
        network=draw(st.sampled_from(["shared", "switched"])))
    return to_dag(g), flops, out_bytes, k, profile


@settings(max_examples=60, deadline=None)
@given(instances())
def test_placements_are_valid_bounded_and_deterministic(instance):
    dag, flops, out_bytes, k, profile = instance
    h = heft(dag, flops, out_bytes, k, profile)
    assert h.shape == (dag.nodes + 2,) and h.min() >= 0 and h.max() < k
    bound = lower_bound(dag, flops, k, profile) * (1 - 1e-12)
    assert simulate(dag, flops, out_bytes, h, profile) >= bound
    best = place(dag, flops, out_bytes, k, profile, max_evals=200, min_gain=0)
    assert best.tolist() == place(dag, flops, out_bytes, k, profile, max_evals=200, min_gain=0).tolist()
    fastest = simulate(dag, flops, out_bytes, best, profile)
    assert fastest >= bound
    serial = simulate(dag, flops, out_bytes, np.zeros_like(h), profile)
    assert fastest <= min(serial, simulate(dag, flops, out_bytes, h, profile))
    # with the default margin: the same placement where it gains MIN_GAIN, else one unit
    kept = place(dag, flops, out_bytes, k, profile, max_evals=200)
    expected = best if fastest <= serial * (1 - MIN_GAIN) else np.zeros_like(h)
    assert kept.tolist() == expected.tolist()


def test_place_distributes_only_for_a_predicted_gain_of_at_least_min_gain():
    """Four parallel chains on four units: 50 against 200 serial (a gain of 0.75), so
    distributed under any margin below that, and on one unit above it."""
    dag = parallel_chains(4, 5)
    flops = np.full(22, 10.0)
    flops[[dag.input, dag.output]] = 0
    spread = place(dag, flops, np.ones(22), 4, FAST_NET, min_gain=0.7)
    assert sorted(set(spread.tolist())) == [0, 1, 2, 3]
    assert simulate(dag, flops, np.ones(22), spread, FAST_NET) < 0.3 * 200
    assert not place(dag, flops, np.ones(22), 4, FAST_NET, min_gain=0.8).any()
