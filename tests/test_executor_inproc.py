"""Worker and coordinator over the in-process transport, with the stand-in network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from executor_toy import TOY_SPEC, toy_builder, toy_dag, toy_out_bytes, toy_reference
from parawire.errors import ParawireError
from parawire.executor.coordinator import Cluster
from parawire.executor.local import LocalWorkers
from parawire.executor.plan import Plan

PARTITIONS = {
    1: [0] * 10,
    2: [0, 1, 0, 1, 1, 0, 1, 0, 0, 1],
    4: [0, 1, 2, 3, 0, 1, 2, 3, 0, 1],
}


@pytest.fixture(scope="module")
def workers():
    with LocalWorkers(4, transport="inproc", builder=toy_builder) as local:
        yield local


@pytest.fixture
def cluster(workers):
    with Cluster.connect(workers.endpoints, transport="inproc", timeout=5.0) as c:
        yield c


@pytest.mark.parametrize("units", [1, 2, 4])
def test_distributed_output_equals_single_process(cluster, units):
    dag, x = toy_dag(), torch.randn(1, 3, 16, 16)
    plan = Plan.build(dag, PARTITIONS[units], out_bytes=toy_out_bytes(dag, x))
    cluster.deploy(TOY_SPEC, plan)
    assert torch.allclose(cluster.infer(x), toy_reference(dag, x), atol=1e-6, rtol=0)
    stats = cluster.stats()
    assert stats.bytes_per_inference == plan.cut_bytes
    assert stats.inferences == 1 and stats.input_bytes == x.numel() * 4


def test_several_requests_in_flight_each_get_their_own_result(cluster):
    dag = toy_dag()
    xs = [torch.randn(1, 3, 8, 8) for _ in range(6)]
    plan = Plan.build(dag, PARTITIONS[4], out_bytes=toy_out_bytes(dag, xs[0]))
    cluster.deploy(TOY_SPEC, plan)
    outs = cluster.infer_many(xs)
    for x, out in zip(xs, outs):
        assert torch.allclose(out, toy_reference(dag, x), atol=1e-6, rtol=0)
    stats = cluster.stats()
    assert stats.peer_bytes == 6 * plan.cut_bytes
    assert all(u["in_flight"] == 0 for u in stats.per_unit)


def test_a_failing_vertex_is_reported_with_unit_and_vertex(workers):
    def broken(spec, unit_plan, weights=None):
        blocks = toy_builder(spec, unit_plan)
        if 4 in blocks:
            good = blocks[4]

            def flaky(inputs):
                if inputs[0].shape[-1] == 5:
                    raise RuntimeError("refuses 5-wide inputs")
                return good(inputs)

            blocks[4] = flaky
        return blocks

    dag = toy_dag()
    with LocalWorkers(2, transport="inproc", builder=broken) as local:
        with Cluster.connect(local.endpoints, transport="inproc", timeout=5.0) as c:
            c.deploy(TOY_SPEC, Plan.build(dag, PARTITIONS[2]))
            with pytest.raises(ParawireError, match=r"unit 1 \(inproc://.*\) failed at vertex 4: RuntimeError: refuses 5-wide"):
                c.infer(torch.randn(1, 3, 5, 5))
            with pytest.raises(ParawireError, match="deploy again"):
                c.infer(torch.randn(1, 3, 4, 4))
            c.deploy(TOY_SPEC, Plan.build(dag, PARTITIONS[2]))
            x = torch.randn(1, 3, 4, 4)
            assert torch.allclose(c.infer(x), toy_reference(dag, x), atol=1e-6, rtol=0)


def test_a_bad_deployment_is_reported_and_the_worker_keeps_serving(cluster):
    def refuse(spec, unit_plan, weights=None):
        raise ValueError("no such network")

    dag = toy_dag()
    with LocalWorkers(1, transport="inproc", builder=refuse) as local:
        with Cluster.connect(local.endpoints, transport="inproc", timeout=2.0) as c:
            with pytest.raises(ParawireError, match="unit 0 .* deployment failed: no such network"):
                c.deploy(TOY_SPEC, Plan.build(dag, [0] * 10))
            assert c.ping() == {0: True}


def test_a_lost_worker_times_out_naming_the_unit(workers):
    dag = toy_dag()
    with LocalWorkers(2, transport="inproc", builder=toy_builder) as local:
        with Cluster.connect(local.endpoints, transport="inproc", timeout=0.5) as c:
            c.deploy(TOY_SPEC, Plan.build(dag, PARTITIONS[2]))
            local.kill(1)
            with pytest.raises(ParawireError, match=r"no result within 0.5 s; unit 1 \(inproc://.*\) does not answer"):
                c.infer(torch.randn(1, 3, 8, 8))


def test_infer_before_deploy_and_oversized_plan_are_refused(cluster):
    with pytest.raises(ParawireError, match="nothing deployed"):
        cluster.infer(torch.zeros(1))
    with pytest.raises(ParawireError, match="plan has 10 units; the cluster has 4 endpoints"):
        cluster.deploy(TOY_SPEC, Plan.build(toy_dag(), np.arange(10)))
