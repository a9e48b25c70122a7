"""Inference engines: every engine's distributed output equals the single-process torch
output (relative 1e-4) for every generator on 1, 2 and 4 units, and the ONNX graphs match
the torch blocks they are written from, including the uneven adaptive max-pool."""

from __future__ import annotations

import pytest
import torch
from executor_real import GENERATORS, UNITS, case
from parawire.errors import PluginError
from parawire.executor.coordinator import Cluster
from parawire.executor.local import LocalWorkers
from parawire.executor.runner import StagedBlock
from parawire.graph.spec import ArchitectureSpec
from parawire.network.nn import ScalingBlock, build_network
from parawire.network.shapes import Scaling
from parawire.pipeline.build import build_architecture
from parawire.registry.manager import get_plugins

ENGINES = ("onnxruntime", "torch")


def close(out: torch.Tensor, reference: torch.Tensor) -> bool:
    """Equal within 1e-4 relative to the reference's largest magnitude."""
    return bool((out - reference).abs().max() <= 1e-4 * reference.abs().max())


def run_blocks(blocks, arch, x):
    """Call compiled blocks vertex by vertex, as a worker holding every vertex does."""
    outs = {}
    for v in arch.dag.order:
        block, inputs = blocks[v], [outs[p] for p in arch.dag.preds[v]] or [x]
        if isinstance(block, StagedBlock):
            inputs = [block.steps[j](t) if j in block.steps else t for j, t in enumerate(inputs)]
            block = block.rest
        outs[v] = block(inputs)
    return outs[arch.dag.output]


def test_builtin_engines_are_registered_by_parawire():
    engines = get_plugins().engines
    assert set(ENGINES) <= set(engines.names())
    assert {engines.providers[name] for name in ENGINES} == {"parawire"}


@pytest.fixture(scope="module")
def cluster():
    with LocalWorkers(4, transport="inproc") as workers:
        with Cluster.connect(workers.endpoints, transport="inproc", timeout=20.0) as c:
            yield c


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("generator", GENERATORS)
def test_distributed_output_equals_single_process_torch(cluster, engine, generator):
    for units in UNITS:
        spec, plan, x, reference = case(generator, units)
        cluster.deploy(spec, plan, engine=engine)
        assert close(cluster.infer(x), reference), (engine, generator, units)


@pytest.mark.parametrize("generator", GENERATORS)
def test_the_latency_model_counts_the_engine_calls_the_workers_make(cluster, generator):
    # the model charges each call (profile.call_s): its count must be the workers' own, per
    # unit, scaling steps and their groups included, under both input policies
    from parawire.executor.plan import plan_for
    from parawire.latency.calls import engine_calls
    from parawire.testbed.breakdown import task_times

    for units in UNITS:
        spec, plan, x, _ = case(generator, units)
        arch = build_architecture(spec)
        for policy in ("stem", "scatter"):
            placed = plan_for(arch, plan.partition, units=units, input_policy=policy)
            cluster.deploy(spec, placed, engine="onnxruntime")
            before = task_times(cluster.stats().per_unit)
            cluster.infer(x)
            after = task_times(cluster.stats().per_unit)
            made = [sum(n - before[u].get(vs, (0, 0, 0))[2] for vs, (_, _, n) in after[u].items())
                    for u in range(units)]
            calls = engine_calls(arch.dag, placed.partition, arch.costs.scaled, policy)
            counted = [int(sum(calls[v] for v in placed.vertices_of(u))) for u in range(units)]
            assert made == counted, (generator, units, policy)


def test_unknown_engine_is_refused_before_anything_is_sent(cluster):
    spec, plan, _, _ = case("dp", 2)
    with pytest.raises(PluginError, match="unknown engine 'onnx'.*known: .*onnxruntime, torch"):
        cluster.deploy(spec, plan, engine="onnx")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    "overrides",
    [
        {"aggregation": "sigmoid-inputs"},
        {"input_shape": (3, 28, 28)},  # pools 14 → 4: uneven adaptive windows
    ],
    ids=["sigmoid-inputs", "uneven-pools"],
)
def test_every_vertex_compiles_to_the_torch_result(engine, overrides):
    spec = ArchitectureSpec(**{"generator": "dp", "nodes": 12, "input_shape": (3, 16, 16),
                               "base_channels": 8, "seed": 3, **overrides})
    arch = build_architecture(spec)
    if "input_shape" in overrides:
        pools = [(arch.layout.out_shape[s.pred][1], s.pool_to[0])
                 for scaling in arch.layout.scaling.values() for s in scaling if s.pool_to]
        assert any(size % out for size, out in pools), pools
    x = torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        reference = build_network(arch).eval()(x)
        blocks = get_plugins().engines.get(engine).compile(
            net=build_network(arch).eval(), vertices=arch.dag.order, threads=1)
        assert close(run_blocks(blocks, arch, x), reference)


@pytest.mark.parametrize("size,out", [((7, 7), (4, 4)), ((5, 9), (3, 2)), ((8, 6), (4, 3)), ((6, 6), (6, 3))])
def test_adaptive_max_pool_matches_torch_for_any_sizes(size, out):
    from parawire.engines.ort import step_session

    block = ScalingBlock(Scaling(pred=0, pool_to=out, channels=(4, 6))).eval()
    x = torch.randn(2, 4, *size)
    with torch.inference_mode():
        assert close(step_session(block, (4, *size), threads=1).one(x), block(x))


def test_an_exported_module_reading_an_input_for_its_shape_only_takes_the_callers_inputs():
    """The exporter drops an input no output's value depends on; the session still
    takes the caller's full list (an imported model's block reading the image for
    ``F.interpolate(y, size=x.shape[-2:])`` fell back to torch)."""
    from parawire.engines.fx_onnx import export_session

    class ShapeOnly(torch.nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.interpolate(y, size=x.shape[-2:]) * 2

    x, y = torch.randn(1, 3, 8, 8), torch.randn(1, 4, 4, 4)
    session = export_session(ShapeOnly(), [x, y], threads=1)
    assert torch.allclose(session([x, y]), ShapeOnly()(x, y))


def test_same_padding_with_a_dilation_runs_on_onnx_runtime():
    """The exporter writes ``padding="same"`` as ``auto_pad``, which ONNX Runtime refused
    with a dilation at the first inference; an even one now exports as explicit pads (the
    same values), and the module keeps its "same" afterwards. An uneven one (even kernel)
    is left to the exporter."""
    from parawire.engines.fx_onnx import export_session

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, (5, 3), padding="same", dilation=(1, 2)),
                                torch.nn.Conv2d(4, 2, 2, padding="same")).eval()
    x = torch.randn(1, 3, 11, 9, generator=torch.Generator().manual_seed(0))
    session = export_session(model, [x], threads=1)
    torch.testing.assert_close(session([x]), model(x), rtol=1e-5, atol=1e-6)
    assert [m.padding for m in model] == ["same", "same"]


def test_outputs_survive_later_sessions_on_the_shared_arena():
    """Every session of a worker allocates from one arena (``engines.ort._shared_arena``);
    an output the runner still holds (a map waiting for a later vertex) must not be a
    block the next session reuses: each vertex's output, taken as the sessions ran in
    order, still equals the one its session gives when run alone afterwards."""
    from parawire.engines.ort import session_options, vertex_session

    assert session_options(1).get_session_config_entry("session.use_env_allocators") == "1"
    spec = ArchitectureSpec(generator="dp", nodes=10, input_shape=(3, 16, 16), base_channels=8, seed=1)
    arch = build_architecture(spec)
    net = build_network(arch).eval()
    order = [v for v in arch.dag.order if v not in (arch.dag.input, arch.dag.output)
             and not net.blocks[str(v)].aggregate.scaling_steps()]
    assert len(order) >= 4, order
    sessions = {v: vertex_session(net, v, 1, False) for v in order}
    feeds = {v: [torch.randn(1, *(int(d) for d in arch.layout.out_shape[p]), generator=torch.Generator().manual_seed(v))
                 for p in arch.dag.preds[v]] for v in order}
    held = {v: sessions[v](feeds[v]) for v in order}  # all alive while later sessions run
    for v in order:
        assert torch.equal(held[v], sessions[v](feeds[v])), v
