"""The placement plan: schedules, sends once per consuming unit, Λ, JSON round trip."""

from __future__ import annotations

import numpy as np
import pytest
from executor_toy import toy_dag
from parawire.errors import ParawireError
from parawire.executor.plan import Plan
from parawire.executor.protocol import SOURCE


def km1(dag, part, out_bytes):
    """Λ by its definition: Σ_v out_bytes[v] · (|units of {v} ∪ succ(v)| − 1)."""
    return sum(out_bytes[v] * (len({part[v], *(part[s] for s in dag.succs[v])}) - 1) for v in dag.graph)


def test_every_vertex_runs_once_in_topological_order():
    dag = toy_dag()
    part = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    plan = Plan.build(dag, part)
    seen = [v for up in plan.unit_plans for v in up.vertices]
    assert sorted(seen) == sorted(dag.graph)
    rank = {v: i for i, v in enumerate(dag.order)}
    for up in plan.unit_plans:
        assert [rank[v] for v in up.vertices] == sorted(rank[v] for v in up.vertices)


def test_sends_once_per_consuming_unit_and_receives_match():
    dag = toy_dag()  # 0 feeds 1 and 2; with 1, 2 on unit 1 and 0 on unit 0, one send
    part = np.zeros(10, dtype=int)
    part[[1, 2]] = 1
    plan = Plan.build(dag, part)
    assert plan.unit_plans[0].sends[0] == [1]
    assert plan.unit_plans[1].receives == {0: 0}
    assert plan.unit_plans[0].receives == {1: 1, 2: 1}
    sent = {(u.unit, v, t) for u in plan.unit_plans for v, ts in u.sends.items() for t in ts}
    received = {(src, v, u.unit) for u in plan.unit_plans for v, src in u.receives.items()}
    assert sent == received


def test_input_vertex_reads_the_source_and_the_output_unit_is_its_owner():
    dag = toy_dag()
    part = np.array([1, 0, 0, 0, 0, 0, 0, 0, 2, 1])
    plan = Plan.build(dag, part)
    assert plan.input_units == [2] and plan.output_unit == 1
    assert plan.unit_plans[2].preds[dag.input] == [SOURCE]
    assert plan.unit_plans[1].preds[dag.output] == list(dag.preds[dag.output])


@pytest.mark.parametrize("seed", range(5))
def test_cut_bytes_equal_the_connectivity_metric(seed):
    dag = toy_dag()
    rng = np.random.default_rng(seed)
    part = rng.integers(0, 3, size=10)
    out_bytes = rng.integers(1, 10_000, size=10)
    plan = Plan.build(dag, part, out_bytes=out_bytes, units=3)
    assert plan.cut_bytes == km1(dag, part, out_bytes)


def test_plan_round_trips_through_json():
    dag = toy_dag()
    plan = Plan.build(dag, np.arange(10) % 4, out_bytes=np.ones(10, dtype=int), predicted_latency_s=0.5)
    again = Plan.model_validate_json(plan.model_dump_json())
    assert again == plan and again.unit_plans[1].preds == plan.unit_plans[1].preds


def test_empty_unit_is_allowed_and_bad_partitions_are_refused():
    dag = toy_dag()
    plan = Plan.build(dag, np.zeros(10, dtype=int), units=2)
    assert plan.unit_plans[1].vertices == [] and plan.units == 2
    with pytest.raises(ParawireError, match="partition has 3 entries; the DAG has 10 vertices"):
        Plan.build(dag, [0, 1, 0])
    with pytest.raises(ParawireError, match="allowed 0..1"):
        Plan.build(dag, np.full(10, 2), units=2)
