"""The latency simulator against makespans worked out by hand, and its invariants."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from parawire.errors import ParawireError
from parawire.graph.dag import to_dag
from parawire.latency.calls import engine_calls
from parawire.latency.model import QUOTA_PHASES, DeviceProfile, Quota, Trace, lower_bound, simulate
from pydantic import ValidationError


def unit_profile(latency: float = 0.0, network: str = "shared") -> DeviceProfile:
    """1 MAC/s and 1 byte/s, so seconds equal the numbers in the arrays."""
    return DeviceProfile(name="unit", flops_per_s=1.0, bandwidth_bytes_per_s=1.0,
                         message_latency_s=latency, network=network)


def dag_of(n: int, edges: list[tuple[int, int]]):
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges)
    return to_dag(g)


def arr(values: dict[int, float], n: int) -> np.ndarray:
    return np.array([values[v] for v in range(n)])


def test_two_parallel_chains_on_two_units():
    # input=4 -> 0 -> 1 -> output=5 and input -> 2 -> 3 -> output; chain 2-3 on unit 1.
    dag = dag_of(4, [(0, 1), (2, 3)])
    flops = arr({4: 1, 0: 2, 1: 2, 2: 2, 3: 2, 5: 1}, 6)
    out_bytes = arr({4: 3, 0: 4, 1: 4, 2: 4, 3: 4, 5: 0}, 6)
    part = arr({4: 0, 0: 0, 1: 0, 2: 1, 3: 1, 5: 0}, 6)
    trace = Trace()
    # stem [0,1]; scatter 0.5+3 -> 4.5; unit 1 runs [4.5,8.5]; gather 0.5+4 -> 13; head [13,14]
    assert simulate(dag, flops, out_bytes, part, unit_profile(0.5), trace=trace) == 14.0
    assert [(t.vertex, t.src, t.dst, t.start, t.end) for t in trace.transfers] == [
        (4, 0, 1, 1.0, 4.5), (3, 1, 0, 8.5, 13.0)]
    assert trace.busy(2).tolist() == [6.0, 4.0]
    assert lower_bound(dag, flops, 2, unit_profile()) == 6.0


def test_chain_pays_one_transfer_per_cut():
    dag = dag_of(4, [(0, 1), (1, 2), (2, 3)])
    flops = np.ones(6)
    out_bytes = np.full(6, 2.0)
    profile = unit_profile(latency=1.0)
    one_cut = arr({4: 0, 0: 0, 1: 0, 2: 1, 3: 1, 5: 1}, 6)
    two_cuts = arr({4: 0, 0: 0, 1: 1, 2: 1, 3: 0, 5: 0}, 6)
    assert simulate(dag, flops, out_bytes, np.zeros(6, int), profile) == 6.0
    assert simulate(dag, flops, out_bytes, one_cut, profile) == 6.0 + 3.0
    assert simulate(dag, flops, out_bytes, two_cuts, profile) == 6.0 + 2 * 3.0


@pytest.mark.parametrize("network, expected", [("shared", 10.0), ("switched", 9.0)])
def test_fan_out_is_sent_once_per_consuming_unit(network, expected):
    # 0 feeds 1 and 2 (both on unit 1) and 3 (unit 2): two messages, not three.
    dag = dag_of(4, [(0, 1), (0, 2), (0, 3)])
    flops = np.ones(6)
    out_bytes = arr({4: 5, 0: 2, 1: 1, 2: 1, 3: 1, 5: 0}, 6)
    part = arr({4: 0, 0: 0, 1: 1, 2: 1, 3: 2, 5: 0}, 6)
    trace = Trace()
    assert simulate(dag, flops, out_bytes, part, unit_profile(network=network),
                    trace=trace) == expected
    sends = [(t.dst, t.start, t.end) for t in trace.transfers if t.vertex == 0]
    # the sender's port (switched) or the bus (shared) serialises the two copies
    assert sends == [(1, 2.0, 4.0), (2, 4.0, 6.0)]
    assert trace.bytes_sent(out_bytes) == 2 * 2 + 3 * 1


def test_simulate_sends_a_large_fan_out_round_robin():
    from parawire.latency.model import INTERLEAVE_BYTES

    t = INTERLEAVE_BYTES
    dag = dag_of(4, [(0, 1), (0, 2), (0, 3)])
    out_bytes = arr({4: 0, 0: 10 * t, 1: 0, 2: 0, 3: 0, 5: 0}, 6)
    part = arr({4: 0, 0: 0, 1: 1, 2: 1, 3: 2, 5: 0}, 6)
    trace = Trace()
    simulate(dag, np.zeros(6), out_bytes, part, unit_profile(network="switched"), trace=trace)
    assert [(t_.dst, t_.end) for t_ in trace.transfers if t_.vertex == 0] == [(1, 19 * t), (2, 20 * t)]


@pytest.mark.parametrize("network", ["switched", "shared"])
def test_copies_of_a_large_tensor_leave_round_robin_and_small_ones_one_after_another(network):
    from parawire.latency.model import INTERLEAVE_BYTES, Network

    t = INTERLEAVE_BYTES  # at 1 byte/s, one turn takes t seconds
    profile = DeviceProfile(name="p", flops_per_s=1.0, bandwidth_bytes_per_s=1.0, message_latency_s=0.0,
                            network=network)
    # three copies of 10 turns: the port is busy 30 turns, copy i through (2 - i) turns before
    big = 10 * t
    assert Network(4, profile).copies(0, [1, 2, 3], 0.0, big) == [(0.0, 28 * t), (big, 29 * t), (2 * big, 30 * t)]
    # copies no larger than a turn go whole, one after another, exactly as booked
    small = t // 2
    assert Network(4, profile).copies(0, [1, 2], 0.0, small) == [(0.0, small), (small, 2 * small)]
    assert Network(4, profile).copies(0, [2], 0.0, big) == [(0.0, big)]
    # the coordinator (unshaped: a shaped link per device) sends its copies side by side
    coordinator = Network(4, profile.model_copy(update={"network": "switched"}), unshaped=0)
    assert coordinator.copies(0, [1, 2], 0.0, big) == [(0.0, big), (0.0, big)]


@pytest.mark.parametrize("burst, passed", [(0.0, 6.0), (1.0, 7.0)])  # 1's bucket is empty at 4: 3 bytes to pass
def test_a_switched_sender_is_not_held_by_a_busy_receiver(burst, passed):
    from parawire.latency.model import Network

    profile = DeviceProfile(name="p", flops_per_s=1.0, bandwidth_bytes_per_s=1.0, message_latency_s=0.5,
                            network="switched", burst_bytes=burst)
    net = Network(3, profile)
    assert net.book(2, 1, 0.0, 4 + burst) == (0.0, 4.5)  # unit 1's port busy until 4
    # 0 → 1 leaves 0's port by 2, then waits in 1's queue until 4 and passes it after;
    # 0 → 2 starts when 0's port is free (2), not when 1 has its message
    assert net.book(0, 1, 0.0, 2 + burst) == (0.0, passed + 0.5)
    assert net.book(0, 2, 0.0, 2) == (2.0, 4.5)
    shared = Network(3, profile.model_copy(update={"network": "shared", "burst_bytes": 0.0}))  # one bus for all
    assert shared.book(2, 1, 0.0, 4) == (0.0, 4.5) and shared.book(0, 2, 0.0, 2) == (4.5, 7.0)


def test_one_unit_is_total_compute_without_messages():
    dag = dag_of(5, [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)])
    flops = np.arange(1, 8) * 1e9
    profile = DeviceProfile(name="p", flops_per_s=1e9, bandwidth_bytes_per_s=1e6,
                            message_latency_s=1e-3)
    trace = Trace()
    assert simulate(dag, flops, np.full(7, 1e6), np.zeros(7, int), profile, trace=trace) == 28.0
    assert trace.transfers == []


def test_unit_waits_for_its_next_vertex_in_order():
    # order is input=3, 0, 1, 2, output=4. Unit 0 holds 1 (fed late from unit 1) and 2
    # (ready at once): the static order makes 2 wait behind 1.
    dag = dag_of(3, [(0, 1)])
    part = arr({3: 0, 0: 1, 1: 0, 2: 0, 4: 0}, 5)
    trace = Trace()
    makespan = simulate(dag, np.ones(5), np.full(5, 4.0), part, unit_profile(), trace=trace)
    assert dag.order == (3, 0, 1, 2, 4)
    # input [0,1] -> send [1,5] -> 0 [5,6] -> send [6,10] -> 1 [10,11] -> 2 [11,12] -> out
    assert (trace.start[1], trace.start[2], makespan) == (10.0, 11.0, 13.0)


def test_bad_inputs_are_one_line_errors():
    dag = dag_of(2, [(0, 1)])
    with pytest.raises(ParawireError, match=r"^partition: got 3 entries; need one per DAG vertex \(4\)$"):
        simulate(dag, np.ones(4), np.ones(4), np.zeros(3, int), unit_profile())
    with pytest.raises(ParawireError, match="^partition: got unit -1"):
        simulate(dag, np.ones(4), np.ones(4), np.array([0, -1, 0, 0]), unit_profile())
    with pytest.raises(ParawireError, match="^order: not a topological order"):
        simulate(dag, np.ones(4), np.ones(4), np.array([1, 0, 0, 1]), unit_profile(),
                 order=[3, 1, 0, 2])
    with pytest.raises(ParawireError, match="^k: got 0"):
        lower_bound(dag, np.ones(4), 0, unit_profile())
    with pytest.raises(ValidationError, match="flops_per_s"):
        DeviceProfile(name="x", flops_per_s=0, bandwidth_bytes_per_s=1, message_latency_s=0)


@st.composite
def instances(draw):
    n = draw(st.integers(1, 14))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=3 * n)) if pairs else []
    size = n + 2
    flops = np.array(draw(st.lists(st.integers(0, 10**6), min_size=size, max_size=size)))
    out_bytes = np.array(draw(st.lists(st.integers(0, 10**6), min_size=size, max_size=size)))
    k = draw(st.integers(1, 5))
    part = np.array(draw(st.lists(st.integers(0, k - 1), min_size=size, max_size=size)))
    network = draw(st.sampled_from(["shared", "switched"]))
    return dag_of(n, edges), flops, out_bytes, part, network


@settings(max_examples=150, deadline=None)
@given(instances())
def test_makespan_bounded_below_and_above(instance):
    dag, flops, out_bytes, part, network = instance
    profile = DeviceProfile(name="p", flops_per_s=1e6, bandwidth_bytes_per_s=1e5,
                            message_latency_s=1e-4, network=network)
    trace = Trace()
    makespan = simulate(dag, flops, out_bytes, part, profile, trace=trace)
    k = int(part.max()) + 1
    assert makespan >= lower_bound(dag, flops, k, profile) * (1 - 1e-12)
    serial = float(np.sum(profile.compute_s(flops)))
    messages = sum(profile.message_s(out_bytes[t.vertex]) for t in trace.transfers)
    assert makespan <= (serial + messages) * (1 + 1e-12)
    assert simulate(dag, flops, out_bytes, part, profile) == makespan  # deterministic
    # every message is a distinct (vertex, other consuming unit) pair
    expected = {(v, int(part[w])) for v in dag.graph for w in dag.succs[v] if part[w] != part[v]}
    assert sorted((t.vertex, t.dst) for t in trace.transfers) == sorted(expected)


def test_fixed_costs_per_vertex_per_extra_input_and_per_byte_read():
    # input=3 -> 0, input -> 1, 0 -> 2, 1 -> 2; vertex 2 has two inputs (one extra).
    dag = dag_of(3, [(0, 2), (1, 2)])
    out_bytes = arr({3: 10, 0: 4, 1: 6, 2: 2, 4: 0}, 5)
    profile = DeviceProfile(name="p", flops_per_s=1.0, bandwidth_bytes_per_s=1.0, message_latency_s=0.0,
                            vertex_overhead_s=0.5, input_overhead_s=2.0, memory_bytes_per_s=2.0)
    # per vertex: 1 flop + 0.5 fixed + 2 per extra input + bytes read / 2
    # 3: 1.5; 0: 1.5 + 10/2 = 6.5; 1: 6.5; 2: 1.5 + 2 + 10/2 = 8.5; 4: 1.5 + 2/2 = 2.5
    assert simulate(dag, np.ones(5), out_bytes, np.zeros(5, int), profile) == 1.5 + 6.5 + 6.5 + 8.5 + 2.5
    # without out_bytes the bound drops the bytes term: path 3-0-2-4 = 1.5 + 1.5 + 3.5 + 1.5
    assert lower_bound(dag, np.ones(5), 1, profile) == 1.5 + 1.5 + 1.5 + 3.5 + 1.5
    assert lower_bound(dag, np.ones(5), 1, profile, out_bytes) == 25.5


def test_weight_bytes_are_charged_at_the_weight_rate_and_only_with_params():
    # input=2 -> 0 -> output=3 and input -> 1 -> output; params 4-byte floats.
    dag = dag_of(2, [])
    params = arr({2: 0, 0: 3, 1: 1, 3: 2}, 4)
    profile = DeviceProfile(name="p", flops_per_s=1.0, bandwidth_bytes_per_s=1.0, message_latency_s=0.0,
                            weight_bytes_per_s=4.0)
    # per vertex: 1 flop + params * 4 bytes / 4 bytes/s = 1 + params
    one_unit = np.zeros(4, int)
    assert simulate(dag, np.ones(4), np.zeros(4), one_unit, profile, params=params) == 4 + 6
    assert simulate(dag, np.ones(4), np.zeros(4), one_unit, profile) == 4  # no params: no weight term
    # both branches on their own unit: the heavier one (vertex 0: 1 + 3) is on the critical path
    split = arr({2: 0, 0: 0, 1: 1, 3: 0}, 4)
    assert simulate(dag, np.ones(4), np.zeros(4), split, profile, params=params) == 1 + 4 + 3
    assert lower_bound(dag, np.ones(4), 2, profile, params=params) == 1 + 4 + 3
    with pytest.raises(ParawireError, match=r"^params: got 3 entries; need one per DAG vertex \(4\)"):
        simulate(dag, np.ones(4), np.zeros(4), one_unit, profile, params=params[:3])


def test_ready_policy_runs_what_has_arrived():
    # the static-order case above: with policy="ready" unit 0 runs 2 while 1's input travels.
    dag = dag_of(3, [(0, 1)])
    part = arr({3: 0, 0: 1, 1: 0, 2: 0, 4: 0}, 5)
    trace = Trace()
    makespan = simulate(dag, np.ones(5), np.full(5, 4.0), part, unit_profile(), policy="ready", trace=trace)
    # input [0,1] -> 2 [1,2]; send [1,5] -> 0 [5,6] -> send [6,10] -> 1 [10,11] -> out [11,12]
    assert (trace.start[2], trace.start[1], makespan) == (1.0, 10.0, 12.0)
    with pytest.raises(ParawireError, match="^policy: got 'eager'; use 'static' or 'ready'$"):
        simulate(dag, np.ones(5), np.ones(5), part, unit_profile(), policy="eager")


@settings(max_examples=60, deadline=None)
@given(instances())
def test_ready_policy_keeps_the_bounds(instance):
    dag, flops, out_bytes, part, network = instance
    profile = DeviceProfile(name="p", flops_per_s=1e6, bandwidth_bytes_per_s=1e5, message_latency_s=1e-4,
                            network=network, vertex_overhead_s=1e-5, input_overhead_s=2e-5,
                            memory_bytes_per_s=1e7)
    trace = Trace()
    makespan = simulate(dag, flops, out_bytes, part, profile, policy="ready", trace=trace)
    k = int(part.max()) + 1
    assert makespan >= lower_bound(dag, flops, k, profile, out_bytes) * (1 - 1e-12)
    assert len(trace.start) == len(flops)
    if k == 1:
        assert makespan == pytest.approx(simulate(dag, flops, out_bytes, part, profile))


def test_a_token_bucket_lets_a_burst_through_at_once_and_refills_at_the_rate():
    # input=3 -> 0, 1, 2 -> output=4; the stem and head on unit 0, the three branches on unit 1.
    dag = dag_of(3, [])
    part = arr({3: 0, 0: 1, 1: 1, 2: 1, 4: 0}, 5)
    out_bytes = arr({3: 4, 0: 6, 1: 6, 2: 6, 4: 0}, 5)
    # 1 byte/s, bucket 8 bytes, every vertex 1 s. The stem's 4 bytes pass at once (t=1);
    # unit 1 computes 0, 1, 2 in [1,2], [2,3], [3,4]. Vertex 0's 6 bytes at t=2 find full
    # buckets on unit 1's send and unit 0's receive port: at once. Vertex 1's at t=3 find
    # 2 + 1 tokens: 3 s, until 6. Vertex 2's then find none: 6 s, until 12. Head: [12, 13].
    bucket = DeviceProfile(name="b", flops_per_s=1.0, bandwidth_bytes_per_s=1.0, message_latency_s=0.0,
                           network="switched", burst_bytes=8)
    trace = Trace()
    assert simulate(dag, np.ones(5), out_bytes, part, bucket, policy="ready", trace=trace) == 13
    assert [(t.vertex, t.start, t.end) for t in trace.transfers] == [(3, 1, 1), (0, 2, 2), (1, 3, 6), (2, 6, 12)]
    # without the bucket every byte waits for the rate: stem [1,5], branches [5,8],
    # messages [6,12], [12,18], [18,24], head [24,25]
    plain = bucket.model_copy(update={"burst_bytes": 0})
    assert simulate(dag, np.ones(5), out_bytes, part, plain, policy="ready") == 25
    assert bucket.idle_message_s(20) == 12 and plain.idle_message_s(20) == 20


def quota_profile(**fields) -> DeviceProfile:
    """1 MAC/s, a quarter core per 10 s period: a 2.5 s budget."""
    return DeviceProfile(name="quota", flops_per_s=1.0, bandwidth_bytes_per_s=1.0, message_latency_s=0.0,
                         cpu_quota=0.25, cpu_period_s=10.0, **fields)


def test_quota_runs_the_budget_at_full_speed_then_waits_for_the_period():
    quota = Quota(1, quota_profile(), phase=0.125)  # periods start at 1.25 + 10 i
    # from t = 1: 0.25 s left before the boundary, then 2.5 s per period
    assert [Quota(1, quota_profile(), 0.125).run(0, 1.0, w) for w in (1.0, 2.6, 3.0, 5.1)] == \
        pytest.approx([1.0, 2.6, 10.5, 12.6])
    # the budget carries from one call to the next inside a period
    t = 1.0
    for expected in (2.0, 3.0, 11.5, 12.5):
        t += quota.run(0, t, 1.0)
        assert t == pytest.approx(expected)


def test_an_idle_unit_runs_budget_and_reserve_at_full_speed_then_keeps_only_the_reserve():
    # periods start at 1.25 + 10 i; a 2.5 s budget and a 1 s reserve
    profile = quota_profile(cpu_reserve_s=1.0)
    assert Quota(1, profile, 0.125).run(0, 2.0, 3.5) == pytest.approx(3.5)  # both, unthrottled
    quota = Quota(1, profile, 0.125)
    # 3.5 s, throttled until 11.25, then 0.5 s of the new budget
    assert quota.run(0, 2.0, 4.0) == pytest.approx(9.75)
    # it held the new budget's 2 s left: 1 s stays as its reserve, 1 s goes back to the period
    assert quota.run(0, 11.75, 2.0) == pytest.approx(2.0)
    assert quota.run(0, 13.75, 1.0) == pytest.approx(8.5)  # nothing left until 21.25
    quota.run(0, 22.25, 2.5)  # spends the rest of this period's budget
    assert quota.run(0, 23.0, 0.0) == 0.0  # no work takes no time, throttled or not


def test_what_a_unit_holds_beyond_its_reserve_is_lost_at_the_boundary():
    quota = Quota(1, quota_profile(cpu_reserve_s=1.0), 0.125)
    # from 10: the reserve (1 s), then the budget until the boundary at 11.25, where of the
    # 2.25 s held only 1 s carries over; 0.75 s of it finishes the work at 12
    assert quota.run(0, 10.0, 2.0) == pytest.approx(2.0)
    # 0.25 s held, the new period's 2.5 s, throttled to 21.25, then 0.25 s
    assert quota.run(0, 12.0, 3.0) == pytest.approx(9.5)


def test_simulate_averages_the_quota_over_the_period_phases():
    # input=1 -> 0 -> output=2 on one unit, 3 s of work from t = 0; period offsets 1.25,
    # 3.75, 6.25, 8.75: ends at 1.25 + 1.75, 3.75 + 0.5, 6.25 + 0.5, 8.75 + 0.5
    dag = dag_of(1, [])
    flops = arr({1: 0, 0: 3, 2: 0}, 3)
    assert QUOTA_PHASES == 4
    assert simulate(dag, flops, np.zeros(3), np.zeros(3, int), quota_profile()) == \
        pytest.approx((3.0 + 4.25 + 6.75 + 9.25) / 4)


def test_the_quota_runs_spread_compute_so_a_budget_step_is_split_over_them(monkeypatch):
    import parawire.latency.model as model

    speeds = model.quota_speeds()
    assert sum(speeds) / len(speeds) == pytest.approx(1.0) and len(set(speeds)) == QUOTA_PHASES
    assert max(speeds) == pytest.approx(1 + model.COMPUTE_SPREAD * (1 - 1 / QUOTA_PHASES))
    # one vertex on one unit, a 2.5 s budget per 10 s period: work just over the budget
    # waits for the next boundary in three of the four phases at once, a 2.8 s step
    dag = dag_of(1, [])
    works = np.arange(2.3, 2.7, 0.005)

    def largest_step() -> float:
        times = [simulate(dag, arr({1: 0, 0: w, 2: 0}, 3), np.zeros(3), np.zeros(3, int), quota_profile())
                 for w in works]
        return float(np.max(np.diff(times)))

    spread = largest_step()
    monkeypatch.setattr(model, "COMPUTE_SPREAD", 0.0)
    assert largest_step() == pytest.approx((3.75 + 6.25 + 8.75 - 3 * 2.5) / 4, abs=0.01)
    assert spread < 1.6  # each run meets the boundary at its own amount of work


def test_each_engine_call_costs_the_profiles_call_s():
    # input=2 -> 0 -> 1 -> output=3, 1 s each for 0 and 1: one unit runs them all in one
    # call; split after 0, unit 0 makes one call (2, 0) and unit 1 one (1, 3)
    dag = dag_of(2, [(0, 1)])
    flops = arr({2: 0, 0: 1, 1: 1, 3: 0}, 4)
    profile = unit_profile(0.5, "switched").model_copy(update={"call_s": 0.25})
    assert simulate(dag, flops, np.zeros(4), np.zeros(4, int), profile) == 2.25
    part = arr({2: 0, 0: 0, 1: 1, 3: 1}, 4)
    assert simulate(dag, flops, np.zeros(4), part, profile) == pytest.approx(0.25 + 1 + 0.5 + 0.25 + 1)
    # 0 on unit 1 between two vertices of unit 0: unit 0 makes a call before and one after
    split = arr({2: 0, 0: 1, 1: 0, 3: 0}, 4)
    assert list(engine_calls(dag, split)) == [1, 1, 1, 0]
    assert simulate(dag, flops, np.zeros(4), split, profile) == pytest.approx(0.25 + 0.5 + 1.25 + 0.5 + 1.25)


def test_engine_calls_follow_the_workers_runs_and_scaling_steps():
    # input=5 -> 0, 1, 2 (unit 1) -> 3 (unit 0) -> 4 -> output=6; 3 scales inputs 0 and 1
    dag = dag_of(5, [(0, 3), (1, 3), (2, 3), (3, 4)])
    part = arr({5: 0, 0: 1, 1: 1, 2: 1, 3: 0, 4: 0, 6: 0}, 7)
    # unit 1: 0, 1 and 2 each send, so each ends its run; unit 0: the stem (sent), then 3,
    # a staged vertex starting a run: alone, one call per scaled input (they come from
    # another unit, so no group) and one for the rest; then 4 and 6 in one run
    calls = engine_calls(dag, part, {3: (0, 1)})
    assert [calls[v] for v in (5, 0, 1, 2, 3, 4, 6)] == [1, 1, 1, 1, 3, 1, 0]
    # 2 on unit 0 and the rest on unit 1: 3 waits for 2, so it starts a run, alone; its
    # two scaled inputs are outputs of one local run (0, 1), there at the same moment:
    # one grouped call for both, one for the rest
    grouped = arr({5: 0, 0: 1, 1: 1, 2: 0, 3: 1, 4: 1, 6: 0}, 7)
    calls = engine_calls(dag, grouped, {3: (0, 1)})
    assert [calls[v] for v in (5, 0, 1, 2, 3, 4, 6)] == [1, 1, 0, 1, 2, 1, 1]
    assert engine_calls(dag, grouped)[3] == 1  # nothing scaled: 3 joins no run but makes one call
    # on one unit nothing is sent: one run, one call, the staged vertex fused whole
    assert engine_calls(dag, np.zeros(7, int), {3: (0, 1)}).sum() == 1
    assert engine_calls(dag, np.zeros(7, int)).sum() == 1


def test_each_message_costs_cpu_on_both_units():
    # input=2 -> 0 -> 1 -> output=3; 0 on unit 0, 1 on unit 1. v0: 1 s; the message: 0.5 s
    # of latency, no bytes; unit 1 takes it in (0.25 s), then v1: 1 s. Unit 0's 0.25 s to
    # send come after v0, while the message travels: off the path
    dag = dag_of(2, [(0, 1)])
    flops = arr({2: 0, 0: 1, 1: 1, 3: 0}, 4)
    part = arr({2: 0, 0: 0, 1: 1, 3: 1}, 4)
    profile = unit_profile(0.5, "switched")
    assert simulate(dag, flops, np.zeros(4), part, profile) == 2.5
    costly = profile.model_copy(update={"message_cpu_s": 0.25})
    assert simulate(dag, flops, np.zeros(4), part, costly) == pytest.approx(2.75)
    assert simulate(dag, flops, np.zeros(4), np.zeros(4, int), costly) == 2.0  # no message, no cost
    # but a unit busy sending cannot compute: 0 feeds 1 (unit 1) and 2 (unit 0, after the send)
    fork = dag_of(3, [(0, 1), (0, 2)])
    work = arr({3: 0, 0: 1, 1: 1, 2: 1, 4: 0}, 5)
    cut = arr({3: 0, 0: 0, 1: 1, 2: 0, 4: 0}, 5)
    trace = Trace()
    simulate(fork, work, np.zeros(5), cut, costly, policy="ready", trace=trace)
    assert trace.start[2] == pytest.approx(1.25)


def test_a_unit_takes_a_message_in_while_its_bytes_stream():
    # as test_each_message_costs_cpu_on_both_units, with 2 bytes at 1 byte/s and no latency:
    # unit 1's 0.25 s of CPU for the message run while its bytes arrive (1 s to 3 s)
    dag = dag_of(2, [(0, 1)])
    flops = arr({2: 0, 0: 1, 1: 1, 3: 0}, 4)
    out = arr({2: 0, 0: 2, 1: 0, 3: 0}, 4)
    part = arr({2: 0, 0: 0, 1: 1, 3: 1}, 4)
    costly = unit_profile(0.0, "switched").model_copy(update={"message_cpu_s": 0.25})
    assert simulate(dag, flops, out, part, costly) == pytest.approx(1 + 2 + 1)
    # but the CPU work is there: with the unit busy meanwhile, it comes after
    assert simulate(dag, flops, out, part, costly.model_copy(update={"message_cpu_s": 3.0})) == pytest.approx(1 + 3 + 1)
