"""Partitioner benchmark: time per call, km1 relative to the best found, balance met.

    pytest benchmarks/test_bench_partitioners.py --benchmark-only \
        --benchmark-columns=median,rounds --benchmark-group-by=param:case

Each case is one instance (generator × vertices × k × ε, see partition_quality.py); the
benchmark's ``extra_info`` holds ``km1``, ``km1/best`` (best = least km1 any available
partitioner found with the balance met on that instance) and ``balanced``. Mt-KaHyPar's
``default`` and ``highest_quality`` presets run when the contrib plugin is installed.
``python benchmarks/partition_quality.py`` prints the table of medians.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from parawire.registry.manager import get_plugins
from parawire.score.metrics import balance_limit, km1, part_weights
from partition_quality import EPS, GENERATORS, UNITS, instances, run_one

REGISTRY = get_plugins().partitioners
CONTENDERS = [(name, None) for name in REGISTRY.names() if name != "mtkahypar"]
if "mtkahypar" in REGISTRY:
    PARAMS = REGISTRY.get("mtkahypar").params
    # in process: time the algorithm, not the fork per call (partition_quality.contender)
    CONTENDERS += [
        ("mtkahypar", PARAMS(preset="default", isolate=False)),
        ("mtkahypar", PARAMS(isolate=False)),
    ]
CASES = [(g, n, k, eps) for g in GENERATORS for n in (40, 80) for k in UNITS for eps in EPS]
# the size traced models reach (a DP model: long chains with branches), few and large k
LARGE = [("dp", 1000, k, 0.03) for k in (2, 32)]


@cache
def hypergraphs():
    small = {key[:2]: hg for key, hg in instances([40, 80], 1)}
    return small | {key[:2]: hg for key, hg in instances([1000], 1, ("dp",))}


@cache
def best_km1(case):
    generator, n, k, eps = case
    hg = hypergraphs()[(generator, n)]
    limit = balance_limit(hg.total_weight, k, eps)
    found = []
    for name, params in CONTENDERS:
        parts, _ = run_one(name, hg, k, eps, params)
        found.append((part_weights(hg, parts, k).max() > limit, km1(hg, parts, k)))
    return min(found)[1]


def label(contender):
    name, params = contender
    return name if params is None else f"{name}-{params.preset}"


@pytest.mark.parametrize("contender", CONTENDERS, ids=label)
@pytest.mark.parametrize("case", CASES + LARGE, ids=lambda c: "{}{}-k{}-eps{}".format(*c))
def test_partitioner(benchmark, contender, case):
    generator, n, k, eps = case
    hg = hypergraphs()[(generator, n)]
    name, params = contender
    # one untimed warm-up round: the first call in a process loads compiled kernels (numba)
    parts, _ = benchmark.pedantic(
        run_one, args=(name, hg, k, eps, params), rounds=3, iterations=1, warmup_rounds=1
    )
    cut = km1(hg, parts, k)
    best = best_km1(case)
    benchmark.extra_info.update(
        km1=cut,
        ratio=cut / best if best else 1.0,
        balanced=bool(part_weights(hg, parts, k).max() <= balance_limit(hg.total_weight, k, eps)),
    )
    assert len(parts) == hg.num_vertices
