"""The two input policies agree across hypergraph, plan, latency model and executor."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from parawire.errors import ParawireError
from parawire.executor.coordinator import Cluster
from parawire.executor.local import LocalWorkers
from parawire.executor.plan import Plan, plan_for
from parawire.graph.spec import ArchitectureSpec
from parawire.latency.model import Trace, simulate
from parawire.network.nn import build_network
from parawire.pipeline.build import build_architecture
from parawire.pipeline.placement import partition_architecture
from parawire.score.hypergraph import hypergraph_of, image_bytes
from parawire.score.metrics import km1
from parawire.study.config import StudyConfig
from parawire.study.sample import evaluate
from test_latency import arr, dag_of, unit_profile

POLICIES = ("stem", "scatter")


def arch_of(generator: str, seed: int = 0, size: int = 32):
    return build_architecture(ArchitectureSpec(generator=generator, nodes=20, seed=seed,
                                               input_shape=(3, size, size)))


def partitioned(arch, k: int, policy: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return partition_architecture(arch, k, input_policy=policy)


@pytest.mark.parametrize("generator", ["dp", "er", "ws", "fb"])
@pytest.mark.parametrize("policy", POLICIES)
def test_plan_bytes_equal_the_hypergraph_lambda(generator, policy):
    arch = arch_of(generator, seed=2)
    for k in (2, 3, 4):
        part = partitioned(arch, k, policy)
        plan = plan_for(arch, part, units=k, input_policy=policy)
        assert plan.cut_bytes == km1(hypergraph_of(arch, policy), part, k)


def test_scatter_replicates_the_stem_on_every_consuming_unit():
    arch = arch_of("dp")
    dag = arch.dag
    part = np.zeros(dag.graph.number_of_nodes(), dtype=int)
    succs = list(dag.succs[dag.input])
    part[succs[0]] = 1  # one consumer of the stem on unit 1, the rest (and the stem) on 0
    part[[v for v in dag.order if v not in succs and v != dag.input][:3]] = 2  # unit 2: no stem consumer
    plan = Plan.build(dag, part, out_bytes=arch.costs.out_bytes, input_policy="scatter",
                      image_bytes=image_bytes(arch))
    assert plan.input_units == [0, 1]
    holders = [u.unit for u in plan.unit_plans if dag.input in u.vertices]
    assert holders == [0, 1]
    assert all(dag.input not in u.receives and dag.input not in u.sends for u in plan.unit_plans)
    stem = Plan.build(dag, part, out_bytes=arch.costs.out_bytes)
    assert stem.input_units == [0]
    saved = int(arch.costs.out_bytes[dag.input]) - image_bytes(arch)  # stem output no longer crosses to 1
    assert stem.cut_bytes - plan.cut_bytes == saved


def test_scatter_needs_the_image_size_and_a_known_policy():
    arch = arch_of("dp")
    part = np.zeros(arch.dag.graph.number_of_nodes(), dtype=int)
    with pytest.raises(ParawireError, match="image_bytes"):
        Plan.build(arch.dag, part, out_bytes=arch.costs.out_bytes, input_policy="scatter")
    with pytest.raises(ParawireError, match="input policy: got 'everywhere'; use one of stem, scatter"):
        hypergraph_of(arch, "everywhere")


def test_model_runs_one_stem_per_consuming_unit_and_charges_the_image():
    # input=4 -> 0 -> 1 -> output=5, input -> 2 -> 3 -> output; chains on units 0 and 1.
    dag = dag_of(4, [(0, 1), (2, 3)])
    flops = arr({4: 1, 0: 2, 1: 2, 2: 2, 3: 2, 5: 1}, 6)
    out_bytes = arr({4: 3, 0: 4, 1: 4, 2: 4, 3: 4, 5: 1}, 6)
    part = arr({4: 0, 0: 0, 1: 0, 2: 1, 3: 1, 5: 0}, 6)
    profile = unit_profile(0.5, network="switched")
    trace = Trace()
    # both units run the stem [0,1], chains [1,5]; unit 1's chain end crosses 0.5+4 -> 9.5; head -> 10.5
    assert simulate(dag, flops, out_bytes, part, profile, input_policy="scatter", trace=trace) == 10.5
    assert [(t.vertex, t.src, t.dst) for t in trace.transfers] == [(3, 1, 0)]
    assert simulate(dag, flops, out_bytes, part, profile) == 14.0  # stem output crosses: 1 + 3.5 later
    # end to end: the coordinator sends the 2-byte image to units 0 and 1 at once, each copy
    # on its unit's link (0.5+2; the coordinator's port is not shaped, as on the testbed),
    # and the 1-byte logits come back (0.5+1).
    assert simulate(dag, flops, out_bytes, part, profile, input_policy="scatter", source_bytes=2) == 10.5 + 2.5 + 1.5
    assert simulate(dag, flops, out_bytes, part, profile, source_bytes=2) == 14.0 + 2.5 + 1.5


@pytest.mark.parametrize("policy", POLICIES)
def test_executor_traffic_equals_the_model(policy):
    spec = ArchitectureSpec(generator="dp", nodes=12, seed=0, input_shape=(3, 16, 16), base_channels=8)
    arch = build_architecture(spec)
    part = partitioned(arch, 3, policy)
    plan = plan_for(arch, part, units=3, input_policy=policy)
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        reference = build_network(arch).eval()(x)
    with LocalWorkers(3, transport="inproc") as local, \
            Cluster.connect(local.endpoints, transport="inproc", timeout=30.0) as cluster:
        cluster.deploy(spec, plan)
        outs = [cluster.infer(x) for _ in range(2)]
        stats = cluster.stats()
    assert all(torch.allclose(o, reference, rtol=1e-4, atol=1e-5) for o in outs)
    assert stats.input_bytes == 2 * len(plan.input_units) * image_bytes(arch)
    assert stats.peer_bytes + stats.input_bytes - 2 * image_bytes(arch) == 2 * plan.cut_bytes
    if policy == "scatter":
        assert len(plan.input_units) > 1  # the case the test is about


def test_study_rows_follow_the_policy():
    config = StudyConfig.quick(samples=1, units=(4,), eps=(0.03,), generators=("dp",), input_policy="scatter")
    scatter = evaluate(config, "dp", 40, 0, unit_profile())
    stem = evaluate(config.model_copy(update={"input_policy": "stem"}), "dp", 40, 0, unit_profile())
    assert scatter[0]["km1_bytes"] != stem[0]["km1_bytes"]


def test_deployment_check_accepts_the_replicated_stem_only_where_the_plan_puts_it():
    from parawire.executor.deployment import DeploymentError, check_deployment

    arch = arch_of("dp")
    plan = plan_for(arch, partitioned(arch, 2, "scatter"), units=2, input_policy="scatter")
    assert plan.input_units == [0, 1]
    body = {"spec": arch.spec.model_dump(mode="json"), "peers": {0: {"address": "tcp://10.0.0.1:1"},
                                                                    1: {"address": "tcp://10.0.0.2:1"}}}
    for u in (0, 1):
        assert check_deployment({**body, "plan": plan.model_dump(mode="json"), "unit": u}).unit_plan.vertices[0] \
            == arch.dag.input
    forged = plan.model_copy(update={"input_units": [0]})  # unit 1 still holds a stem it was not given
    with pytest.raises(DeploymentError, match=r"unit_plans\[1\]\.vertices do not match"):
        check_deployment({**body, "plan": forged.model_dump(mode="json"), "unit": 1})
