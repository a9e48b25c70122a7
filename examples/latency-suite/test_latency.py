"""A latency suite: three architectures on 1 and 2 local workers (the default engine),
and the same networks in one process (each engine, 1 thread and all threads) as the
baseline rows.

Copy this folder, put your specs in ARCHITECTURES, and run::

    pytest --benchmark-autosave              # once per commit: .benchmarks/…/0001_….json
    pytest-benchmark compare 0001 0002 --group-by=name   # one row per test across commits

Each architecture is one benchmark group, so a plain run prints its distributed and
single-process rows side by side; each row's extra_info says what it ran (generator,
nodes, units, engine, transport, predicted ms, bytes per inference, input shape).
See docs/latency-suites.md in parawire.
"""

import os
from pathlib import Path

import pytest
from parawire.graph.spec import ArchitectureSpec
from parawire.testing.suite import measure

HERE = Path(__file__).parent
ARCHITECTURES = {
    # built in Python ...
    "dp": ArchitectureSpec(generator="dp", nodes=16, seed=1, input_shape=(3, 32, 32), base_channels=16),
    "er": ArchitectureSpec(generator="er", nodes=16, seed=2, input_shape=(3, 32, 32), base_channels=16,
                           params={"p": 0.3}),
    # ... or read from a spec file (JSON or TOML)
    "ws": HERE / "ws.toml",
}
UNITS = [1, 2]
THREADS = {"1thread": 1, "allthreads": os.cpu_count() or 1}
ENGINES = ["torch", "onnxruntime"]  # the baseline is the best single process, whatever computes it


@pytest.mark.parametrize("units", UNITS, ids=[f"{u}units" for u in UNITS])
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_distributed(benchmark, parawire_cluster, name, units):
    # local worker processes over ZeroMQ ipc; stopped when the test ends, whatever happens
    cluster = parawire_cluster(ARCHITECTURES[name], units=units)
    measure(benchmark, cluster)  # also checks the output against the single-process network


@pytest.mark.parametrize("threads", THREADS.values(), ids=list(THREADS))
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_single_process(benchmark, parawire_single, name, engine, threads):
    measure(benchmark, parawire_single(ARCHITECTURES[name], threads=threads, engine=engine))
