"""Initial k-way partitions: a diverse pool that FM then polishes (KaHyPar's portfolio idea).

On 40–200 vertices the partition FM starts from decides most of the final quality, so
the multilevel partitioner tries several kinds and keeps the best:

* ``chunks``: cut a topological order into k contiguous pieces of ≈ W/k weight. DAG
  architectures are long chains of blocks, and contiguous pieces cut only the nets that
  straddle a boundary; the order is rotated per try to vary the cut points.
* ``growing``: greedy hypergraph growing — grow one part at a time from a random seed,
  always absorbing the unassigned vertex with the best km1 gain into the part.
* ``random``: random order, each vertex to the currently lightest part (balanced, poor
  cut, but a different basin for FM).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

InitialFn = Callable[..., np.ndarray]


def chunks(order: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Contiguous pieces of ``order`` by weight; the midpoint of each vertex decides."""
    total = max(int(weights.sum()), 1)
    w = weights[order].astype(np.float64)
    mid = np.cumsum(w) - w / 2
    shift = rng.uniform(-0.5, 0.5) * total / k  # move every cut a little, per try
    pieces = np.clip(np.floor((mid + shift) * k / total), 0, k - 1).astype(np.int64)
    parts = np.empty(order.size, dtype=np.int64)
    parts[order] = pieces
    return parts


def random_balanced(weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    parts = np.empty(weights.size, dtype=np.int64)
    loads = np.zeros(k, dtype=np.int64)
    for v in rng.permutation(weights.size):
        t = int(np.argmin(loads))
        parts[v] = t
        loads[t] += weights[v]
    return parts


def growing(
    a: np.ndarray, costs: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """Greedy hypergraph growing with the unassigned vertices as an extra block ``k``.

    The gain of pulling v from the unassigned block into part p is the km1 gain of that
    move in the (k+1)-block partition, so the part grows along heavy nets first.
    """
    n = weights.size
    parts = np.full(n, k, dtype=np.int64)
    target = weights.sum() / k
    at = a.T
    unassigned_pins = at.sum(axis=1)
    for p in range(k - 1):
        free = parts == k
        if not free.any():
            break
        seed = int(rng.choice(np.flatnonzero(free)))
        in_part = np.zeros(a.shape[1])
        load = 0
        v = seed
        while True:
            parts[v] = p
            load += weights[v]
            unassigned_pins -= at[:, v]
            in_part += at[:, v]
            free = parts == k
            if load >= target or not free.any():
                break
            benefit = a @ (costs * (unassigned_pins == 1))
            penalty = a @ (costs * (in_part == 0))
            gain = np.where(free, benefit - penalty, -np.inf)
            best = np.flatnonzero(gain == gain.max())
            v = int(best[rng.integers(best.size)])
    parts[parts == k] = k - 1
    return parts
