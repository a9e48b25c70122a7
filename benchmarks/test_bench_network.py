"""Throughput of spec → architecture (no torch) and of building the torch module.

Run: ``pytest benchmarks/test_bench_network.py --benchmark-only``. The Table 4 study
needs thousands of architectures per minute from the first; the second bounds how
fast workers can rebuild their sub-networks from a spec.
"""

from __future__ import annotations

import itertools

import pytest
from parawire.graph.spec import ArchitectureSpec
from parawire.network.nn import build_network
from parawire.pipeline.build import build_architecture


@pytest.mark.parametrize("generator", ["er", "dp"])
def test_bench_build_architecture(benchmark, generator):
    seeds = itertools.count()

    def build():
        spec = ArchitectureSpec(
            generator=generator, nodes=40, seed=next(seeds), input_shape=(3, 224, 224), classes=102
        )
        return build_architecture(spec)

    arch = benchmark(build)
    assert arch.costs.params.shape == (42,)


def test_bench_build_network(benchmark):
    arch = build_architecture(
        ArchitectureSpec(generator="er", nodes=40, seed=0, input_shape=(3, 224, 224), classes=102)
    )
    net = benchmark(build_network, arch)
    assert sum(p.numel() for p in net.parameters()) == arch.costs.total_params
