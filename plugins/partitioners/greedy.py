"""``greedy``: the paper's appendix §6.1 distribution, as a baseline.

1. Group vertices on the same sequential path: a DAG edge u → v joins u's and v's
   groups when u has one successor and v one predecessor, so maximal chains become one
   group (their inner edges can never cost anything then).
2. Assign groups, heaviest first, to the least-loaded unit. A group that would push
   that unit over the balance limit (1+ε)·⌈W/k⌉ is split along its chain: the unit
   takes the leading vertices that fit, and the rest goes on to the next least-loaded
   unit (the paper only says the algorithm balances; splitting is our reading).
3. Repairs shared with the other partitioners: no empty unit, balance limit.

Without DAG information (a hypergraph built from bare arrays) every vertex is its own
group. The algorithm draws no random numbers; ``seed`` is accepted and unused, so
the same seed trivially gives the same partition.
"""

from __future__ import annotations

import numpy as np
from parawire.plugins.partitioners.kway import check_args, repaired, trivial_partition
from parawire.score.hypergraph import Hypergraph
from parawire.score.metrics import balance_limit


def sequential_groups(hg: Hypergraph) -> list[list[int]]:
    """Maximal chains (in topological order) of the DAG behind ``hg``."""
    n = hg.num_vertices
    if hg.net_sources is None:
        return [[v] for v in range(n)]
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = np.zeros(n, dtype=np.int64)
    for e, source in enumerate(hg.net_sources.tolist()):
        for v in hg.pins(e).tolist():
            if v != source:
                succ[source].append(v)
                indeg[v] += 1
    order = hg.order.tolist() if hg.order is not None else list(range(n))
    head = list(range(n))  # the first vertex of each vertex's chain
    for u in order:
        if len(succ[u]) == 1 and indeg[succ[u][0]] == 1:
            head[succ[u][0]] = head[u]
    groups: dict[int, list[int]] = {}
    for v in order:
        groups.setdefault(head[v], []).append(v)
    return list(groups.values())


def partition(hypergraph: Hypergraph, k: int, eps: float, seed: int, params=None) -> np.ndarray:
    check_args(hypergraph, k, eps)
    fixed = trivial_partition(hypergraph, k, eps, "greedy")
    if fixed is not None:
        return fixed
    weights = hypergraph.vertex_weights
    limit = balance_limit(hypergraph.total_weight, k, eps)
    groups = sequential_groups(hypergraph)
    groups.sort(key=lambda g: (-int(weights[g].sum()), g[0]))
    loads = np.zeros(k, dtype=np.int64)
    parts = np.empty(hypergraph.num_vertices, dtype=np.int64)
    for group in groups:
        rest = list(group)
        while rest:
            unit = int(np.argmin(loads))
            room = limit - loads[unit]
            # leading vertices that fit; at least one, since no unit is lighter
            take = max(int((np.cumsum(weights[rest]) <= room).sum()), 1)
            for v in rest[:take]:
                parts[v] = unit
                loads[unit] += weights[v]
            rest = rest[take:]
    return repaired(hypergraph, k, eps, parts, "greedy")

