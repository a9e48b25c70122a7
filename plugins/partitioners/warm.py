"""Compile every numba kernel of the partitioners once, into numba's on-disk cache.

Compiling them costs ≈ 20 s of CPU (more in wall time on a loaded machine), which a
user would otherwise pay on the first partition of a fresh install; ``scripts/bootstrap``
runs this right after installing, so the first real call only loads the cache.

    python -m parawire.plugins.partitioners.warm
"""

from __future__ import annotations

import time

import numpy as np
from parawire.score.hypergraph import Hypergraph


def warm() -> float:
    """Partition a small hypergraph through every kernel (both FM move finders, METIS's
    expansion, growing, coarsening); returns the seconds it took."""
    from parawire.plugins.partitioners import multilevel

    start = time.perf_counter()
    rng = np.random.default_rng(0)
    n = 48
    chain = [[v, v + 1] for v in range(n - 1)]
    branches = [sorted({v, (v * 7 + 3) % n, (v * 5 + 1) % n}) for v in range(0, n, 4)]
    nets = chain + [net for net in branches if len(net) > 1]
    hg = Hypergraph.from_arrays(n, rng.integers(1, 100, n).tolist(), nets, [1] * len(nets))
    for k in (2, 8):  # k ≤ FEW: per-part trees; above: the heap
        multilevel.partition(hg, k, 0.1, 0)
    return time.perf_counter() - start


if __name__ == "__main__":
    print(f"partitioner kernels compiled and cached in {warm():.1f} s")
