"""Initial k-way partitions: a diverse pool that FM then polishes (KaHyPar's portfolio idea).

On 40–200 vertices the partition FM starts from decides most of the final quality, so
the multilevel partitioner tries several kinds and keeps the best:

* ``chunks``: cut a topological order into k contiguous pieces of ≈ W/k weight. DAG
  architectures are long chains of blocks, and contiguous pieces cut only the nets that
  straddle a boundary; the order is rotated per try to vary the cut points.
* ``growing``: greedy hypergraph growing — grow one part at a time from a random seed,
  always absorbing the unassigned vertex with the best km1 gain into the part.
* ``heaviest_first``: LPT scheduling, the best-balanced start (poor cut); used only when
  no other start meets a tight limit.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from parawire.score.hypergraph import Hypergraph


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


def heaviest_first(weights: np.ndarray, k: int) -> np.ndarray:
    """Heaviest vertex first to the lightest part (LPT scheduling): poor cut, but the
    best-balanced start, for when the tight limit is the hard part."""
    parts = np.empty(weights.size, dtype=np.int64)
    loads = np.zeros(k, dtype=np.int64)
    for v in np.argsort(-weights, kind="stable").tolist():
        t = int(np.argmin(loads))
        parts[v] = t
        loads[t] += weights[v]
    return parts


def growing(hg: Hypergraph, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy hypergraph growing with the unassigned vertices as an extra block ``k``.

    The gain of pulling v from the unassigned block into part p is the km1 gain of that
    move in the (k+1)-block partition, so the part grows along heavy nets first.
    """
    return _grow(hg.net_ptr, hg.vertex_ptr, hg.vertex_nets, hg.net_costs, hg.vertex_weights,
                 k, int(rng.integers(2**31)))


@njit(cache=True)
def _grow(nptr, vptr, vnets, costs, weights, k, seed):
    np.random.seed(seed)
    n = weights.size
    parts = np.full(n, k, np.int64)
    target = weights.sum() / k
    unassigned = np.diff(nptr)  # pins of each net not yet in any part
    free = n
    for p in range(k - 1):
        if free == 0:
            break
        pick = np.random.randint(free)  # a uniformly random free vertex seeds part p
        v = -1
        for u in range(n):
            if parts[u] == k:
                if pick == 0:
                    v = u
                    break
                pick -= 1
        in_part = np.zeros(nptr.size - 1, np.int64)
        load = 0
        while True:
            parts[v] = p
            free -= 1
            load += weights[v]
            for j in range(vptr[v], vptr[v + 1]):
                unassigned[vnets[j]] -= 1
                in_part[vnets[j]] += 1
            if load >= target or free == 0:
                break
            best = np.iinfo(np.int64).min
            ties = 0
            for u in range(n):
                if parts[u] != k:
                    continue
                g = 0
                for j in range(vptr[u], vptr[u + 1]):
                    e = vnets[j]
                    if unassigned[e] == 1:
                        g += costs[e]
                    if in_part[e] == 0:
                        g -= costs[e]
                if g > best:
                    best = g
                    ties = 1
                    v = u
                elif g == best:  # a uniformly random one among the best (reservoir)
                    ties += 1
                    if np.random.randint(ties) == 0:
                        v = u
    for u in range(n):
        if parts[u] == k:
            parts[u] = k - 1
    return parts
