"""Inference engines against the best single process, all rows of a group in one run.

    pytest benchmarks/test_bench_engine.py --benchmark-only --benchmark-columns=median,iqr,rounds

``per-unit``: one unit's compute as a worker does it (the engine's blocks, fused into
segments where the engine fuses, driven by a :class:`UnitRunner`), against ONNX
Runtime running the same vertices as one session (the target: within 1.1×). Inputs from the other unit are
computed beforehand. ``end-to-end``: 2 local worker processes (zmq ipc) per engine
against one process per engine on 1 and on all threads, for DP-40 and ER-40 at
3×32×32, DP-40 at 3×224×224 and the main job's architecture (the target: 2 workers ≥ 1.25× faster than the best
single process at 32×32, no slower at 224×224). Distributed outputs are checked
against single-process torch before timing.
"""

from __future__ import annotations

import os
import warnings
from functools import cache

import pytest
import torch
from parawire.engines.ort import unit_session
from parawire.executor.coordinator import Cluster
from parawire.executor.local import LocalWorkers
from parawire.executor.plan import plan_for
from parawire.executor.protocol import SOURCE
from parawire.executor.runner import UnitRunner
from parawire.executor.worker import network_blocks
from parawire.graph.spec import ArchitectureSpec
from parawire.network.nn import build_network
from parawire.network.threads import torch_threads
from parawire.pipeline.build import build_architecture
from parawire.pipeline.placement import partition_architecture
from parawire.registry.manager import get_plugins

ENGINES = ("onnxruntime", "torch")
CASES = {
    "dp40-32": ArchitectureSpec(generator="dp", nodes=40, input_shape=(3, 32, 32)),
    "er40-32": ArchitectureSpec(generator="er", nodes=40, input_shape=(3, 32, 32)),
    "dp40-224": ArchitectureSpec(generator="dp", nodes=40, input_shape=(3, 224, 224)),
    # the architecture ./scripts/main picks (the quick study's most concurrent one)
    "main-job": ArchitectureSpec(generator="dp", nodes=40, seed=6805164817489127322, input_shape=(3, 32, 32)),
}


@cache
def case(name: str):
    spec = CASES[name]
    arch = build_architecture(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = plan_for(arch, partition_architecture(arch, 2), units=2)
    x = torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(0))
    return arch, plan, x


def values(arch, x) -> dict[int, torch.Tensor]:
    """Every vertex's output (the inputs a unit receives from the other)."""
    net, out = build_network(arch).eval(), {}
    with torch.inference_mode():
        for v in arch.dag.order:
            out[v] = net.blocks[str(v)]([out[p] for p in arch.dag.preds[v]] or [x])
    return out


@pytest.mark.parametrize("unit", [0, 1])
@pytest.mark.parametrize("engine", [*ENGINES, "ort-one-session"])
def test_bench_per_unit(benchmark, engine, unit):
    arch, plan, x = case("dp40-32")
    benchmark.group = f"per-unit dp40-32 unit {unit}"
    unit_plan = plan.unit_plans[unit]
    vertices = unit_plan.vertices
    outs = {**values(arch, x), SOURCE: x}
    given = {p: outs[p] for v in vertices for p in unit_plan.preds[v] if p not in vertices}
    with torch_threads(1), torch.inference_mode():
        if engine == "ort-one-session":
            net = build_network(arch, vertices).eval()
            session, feeds = unit_session(net, vertices, vertices, threads=1)
            inputs = [given[SOURCE if p == -1 else p] for p in feeds]
            benchmark(lambda: session(inputs))
            return
        # The worker's own path: its blocks (fused where the engine fuses) in a UnitRunner.
        blocks = network_blocks(arch.spec.model_dump(mode="json"), unit_plan, engine=engine)
        got: dict[int, torch.Tensor] = {}
        runner = UnitRunner(unit_plan, blocks, plan.output_vertex,
                            send=lambda u, r, v, t: got.__setitem__(v, t), result=lambda r, t: None, error=None)
        requests = iter(range(1 << 30))

        def run():
            rid = next(requests)
            for p, t in given.items():
                runner.accept(rid, p, t)

        benchmark(run)
        assert got and all(torch.allclose(t, outs[v], rtol=1e-4, atol=1e-4) for v, t in got.items())


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("threads", [1, os.cpu_count() or 1], ids=["1thread", "allthreads"])
@pytest.mark.parametrize("engine", ENGINES)
def test_bench_single_process(benchmark, engine, threads, name):
    arch, _, x = case(name)
    benchmark.group = f"end-to-end {name}"
    with torch_threads(threads), torch.inference_mode():
        call = get_plugins().engines.get(engine).whole(net=build_network(arch).eval(), threads=threads)
        benchmark(call, x)


@pytest.fixture(scope="module")
def two_workers():
    """One pair of worker processes for every end-to-end row: each row deploys its own
    network on them, so their start-up (about 3 s of CPU each) is paid once, not per row."""
    with LocalWorkers(2) as workers, Cluster.connect(workers.endpoints) as cluster:
        yield cluster


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("engine", ENGINES)
def test_bench_two_workers(benchmark, two_workers, engine, name):
    arch, plan, x = case(name)
    benchmark.group = f"end-to-end {name}"
    with torch.inference_mode():
        reference = build_network(arch).eval()(x)
    two_workers.deploy(arch.spec, plan, engine=engine)
    assert torch.allclose(two_workers.infer(x), reference, rtol=1e-4, atol=1e-4 * reference.abs().max())
    benchmark(two_workers.infer, x)
