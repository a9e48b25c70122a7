"""Import benchmark: trace + measure + group + score a model of 1002 blocks (target < 5 s).

    pytest benchmarks/test_bench_models.py --benchmark-only --benchmark-columns=median,min,rounds

``model_zoo_large.ladder``: 250 stages of 4 parallel conv–BN–ReLU branches, 4,257 fx
nodes, 1,002 blocks. Measured beside two baselines in the same run: bare
``torch.fx.symbolic_trace`` of the same module (the floor any fx import pays) and
scoring alone (``score_architecture`` on the already imported DAG, 2/4/8 units). The
module is built once, outside the timing: constructing the user's model is not import.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import pytest
import torch
from parawire.models import import_model
from parawire.network.threads import torch_threads
from parawire.pipeline.score import score_architecture

sys.path.insert(0, str(Path(__file__).parent))

from model_zoo_large import ladder  # noqa: E402

SPEC = {"factory": f"{Path(__file__).with_name('model_zoo_large.py')}:ladder", "input_shape": [3, 8, 8]}
UNITS = [2, 4, 8]


@cache
def model() -> torch.nn.Module:
    return ladder().eval()


def trace_and_score():
    imported = import_model(SPEC, model=model())
    return imported, score_architecture(imported, UNITS, [0.03])


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


def test_import_and_score_1000_blocks(benchmark):
    imported, rows = benchmark.pedantic(trace_and_score, rounds=3, iterations=1, warmup_rounds=1)
    assert imported.dag.nodes == 1002
    assert [r.units for r in rows] == UNITS
    benchmark.extra_info["blocks"] = imported.dag.nodes


def test_baseline_symbolic_trace(benchmark):
    graph = benchmark.pedantic(lambda: torch.fx.symbolic_trace(model()).graph, rounds=3, iterations=1)
    assert len(graph.nodes) > 4000


def test_baseline_score_only(benchmark):
    imported = import_model(SPEC, model=model())
    rows = benchmark.pedantic(lambda: score_architecture(imported, UNITS, [0.03]), rounds=3, iterations=1)
    assert len(rows) == len(UNITS)
