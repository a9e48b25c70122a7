"""Calls per second of the latency simulator and the placements on real architectures.

Run: /work/venv/bin/pytest benchmarks/test_bench_latency.py --benchmark-columns=mean,ops
"""

from __future__ import annotations

import numpy as np
import pytest
from parawire.graph.spec import ArchitectureSpec
from parawire.latency.model import simulate
from parawire.latency.profiles import EDGE
from parawire.latency.schedule import heft, place
from parawire.pipeline.build import build_architecture


@pytest.fixture(scope="module", params=[40, 80])
def instance(request):
    arch = build_architecture(ArchitectureSpec(generator="er", nodes=request.param, seed=1))
    part = np.arange(arch.dag.nodes + 2) % 8  # a scattered partition: many messages
    return arch.dag, arch.costs.flops, arch.costs.out_bytes, part


def test_simulate(benchmark, instance):
    dag, flops, out_bytes, part = instance
    benchmark(simulate, dag, flops, out_bytes, part, EDGE)


def test_heft(benchmark, instance):
    dag, flops, out_bytes, _ = instance
    benchmark(heft, dag, flops, out_bytes, 8, EDGE)


def test_place(benchmark, instance):
    dag, flops, out_bytes, part = instance
    benchmark.pedantic(place, (dag, flops, out_bytes, 8, EDGE), {"starts": (part,)}, rounds=3)
