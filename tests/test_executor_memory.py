"""1000 sequential inferences: no memory growth in the coordinator or the workers."""

from __future__ import annotations

import psutil
import pytest
from executor_real import case
from parawire.executor.coordinator import Cluster
from parawire.executor.local import LocalWorkers

BOUND = 16 << 20  # bytes of RSS growth tolerated per process (allocator noise, caches)


@pytest.mark.slow
def test_thousand_inferences_do_not_grow_memory():
    spec, plan, x, _ = case("dp", 2)
    me = psutil.Process()
    with LocalWorkers(2, endpoint_kind="ipc") as workers, Cluster.connect(workers.endpoints) as cluster:
        cluster.deploy(spec, plan)
        for _ in range(100):  # warm-up: allocator pools, zmq buffers, lazy imports
            cluster.infer(x)
        before = [me.memory_info().rss] + [u["rss"] for u in cluster.stats().per_unit]
        for _ in range(1000):
            cluster.infer(x)
        stats = cluster.stats()
        after = [me.memory_info().rss] + [u["rss"] for u in stats.per_unit]
    assert stats.inferences == 1100 and all(u["in_flight"] == 0 for u in stats.per_unit)
    growth = [a - b for a, b in zip(after, before)]
    assert max(growth) < BOUND, f"RSS growth per process (coordinator, workers): {growth}"
