"""A deployment's memory before generation (:mod:`parawire.executor.estimate`): the bound
from the spec's numbers really bounds every unit of real plans, and the plan's own DAG
gives the same estimate as the generated architecture."""

from __future__ import annotations

import warnings

import pytest
from parawire.errors import ParawireError
from parawire.executor.deployment import check_deployment
from parawire.executor.estimate import bound_bytes, early_bytes, planned_bytes
from parawire.executor.plan import Plan
from parawire.executor.tiles import hybrid_plan
from parawire.executor.worker import network_bytes
from parawire.graph.spec import ArchitectureSpec
from parawire.network.halo import tile_grid
from parawire.network.shapes import largest_map, widest_channels
from parawire.pipeline.build import build_architecture
from parawire.pipeline.placement import partition_architecture

SPECS = [
    ArchitectureSpec(generator="dp", nodes=40, input_shape=(3, 224, 224)),
    ArchitectureSpec(generator="er", nodes=30, input_shape=(3, 33, 17), base_channels=8, channel_cap=24),
    ArchitectureSpec(generator="ws", nodes=25, input_shape=(1, 5, 5), base_channels=3, staging="greedy"),
    ArchitectureSpec(generator="fb", nodes=30, input_shape=(3, 64, 64), base_channels=16, classes=1000),
    ArchitectureSpec(generator="chain", nodes=12, staging="uniform"),
]


def partitioned(arch, k, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return partition_architecture(arch, k, **kw)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.generator)
def test_every_output_fits_the_largest_map_and_the_widest_channels(spec):
    layout = build_architecture(spec).layout
    computed = [v for v in range(spec.nodes + 2) if v != layout.dag.output]
    assert max(int(layout.out_shape[v].prod()) for v in computed) <= largest_map(spec)
    assert int(layout.out_shape[computed, 0].max()) <= widest_channels(spec)


def test_the_largest_map_is_reached_by_some_staging():
    # greedy staging walks every shape of the lemma along the chain, the largest included
    spec = ArchitectureSpec(generator="chain", nodes=12, input_shape=(3, 3, 3), base_channels=2, staging="greedy")
    layout = build_architecture(spec).layout
    assert max(int(layout.out_shape[v].prod()) for v in range(spec.nodes + 1)) == largest_map(spec) == 1024  # 1024 channels of 1×1


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.generator)
@pytest.mark.parametrize("policy", ["stem", "scatter"])
def test_the_bound_covers_the_plans_dag_and_the_plans_dag_is_the_generated_estimate(spec, policy):
    arch = build_architecture(spec)
    plan = Plan.build(arch.dag, partitioned(arch, 3), units=3, input_policy=policy)
    body = spec.model_dump(mode="json")
    for unit in plan.unit_plans:
        exact, planned, bound = network_bytes(body, unit), planned_bytes(spec, plan, unit), bound_bytes(spec, unit)
        assert max(exact, planned) <= bound
        assert early_bytes(body, plan, unit, limit=bound) == bound
        assert early_bytes(body, plan, unit, limit=bound - 1) == planned
        if spec.generator != "fb":  # fb marks its own stages; the plan's DAG has the spec's policy instead
            assert planned == exact


@pytest.mark.parametrize(("generator", "size", "grid", "threshold"), [("dp", 35, (1, 3), 9), ("fb", 33, (2, 2), 17)])
def test_the_bound_covers_a_hybrid_plans_units(generator, size, grid, threshold):
    spec = ArchitectureSpec(generator=generator, nodes=18 if generator == "fb" else 10, seed=3, base_channels=8,
                            input_shape=(3, size, size))
    arch = build_architecture(spec)
    tiles = tile_grid(arch.layout, *grid, threshold)
    plan = hybrid_plan(arch, tiles, partitioned(arch, 4, free=tiles.tiled), 4)
    body = spec.model_dump(mode="json")
    for unit in plan.unit_plans:
        check_deployment({"spec": body, "plan": plan.model_dump(mode="json"), "unit": unit.unit,
                          "peers": {str(u): {"address": "inproc://x"} for u in range(4)}})
        assert network_bytes(body, unit) <= bound_bytes(spec, unit)
        # past the limit, the plan's own DAG (the prefix's edges from ``tiling.preds``): exact but for fb's marks
        planned = early_bytes(body, plan, unit, limit=0)
        assert planned == planned_bytes(spec, plan, unit) <= bound_bytes(spec, unit)  # an idle unit: 0
        assert planned == network_bytes(body, unit) or generator == "fb"


def test_a_plan_for_another_vertex_count_is_refused_before_any_estimate():
    spec = ArchitectureSpec(generator="dp", nodes=12)
    arch = build_architecture(spec)
    plan = Plan.build(arch.dag, [0] * (spec.nodes + 2))
    bigger = spec.model_copy(update={"nodes": 5000}).model_dump(mode="json")
    with pytest.raises(ParawireError, match=r"plan.partition: 14 vertices, but the spec describes 5002"):
        early_bytes(bigger, plan, plan.unit_plans[0], limit=1 << 40)


@pytest.mark.parametrize("spec", SPECS[:2], ids=["dp-224", "er-odd"])
def test_one_process_memory_counts_parameters_activations_and_images(spec):
    from parawire.executor.estimate import check_process_memory, process_bytes

    arch = build_architecture(spec)
    c, h, w = spec.input_shape
    need = 4 * int(arch.costs.params.sum()) + int(arch.costs.out_bytes.sum()) + 33 * 4 * c * h * w
    assert process_bytes(arch, 33) == need
    check_process_memory(arch, 32, available=need)  # exactly enough: no refusal
    shape = f"{c}×{h}×{w}"
    with pytest.raises(ParawireError, match=rf"^input shape {shape}: one process needs about .* GiB to run the"
                                            r" network and hold its image and 32 check inputs, more than the .* GiB"
                                            r" free here; use a smaller image or fewer --check-inputs$"):
        check_process_memory(arch, 32, available=need - 1)
