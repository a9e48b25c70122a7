"""Coarsening for V-cycles: contract heavy pin pairs inside the current parts.

A V-cycle (hMETIS/KaHyPar) contracts the hypergraph while respecting the current
partition, then refines level by level back to the original. On a coarse level FM moves
whole clusters at once, which escapes minima a vertex-by-vertex FM cannot.

Rating of a pair (KaHyPar's heavy-edge rating): r(u, v) = Σ_{e ∋ u,v} c_e / (|e| − 1).
Matching visits vertices in random order and pairs each with its best-rated unmatched
neighbour in the same part (ties: the lowest vertex id), provided the pair stays under
a weight cap (so a coarse vertex never exceeds what a part may hold). Nets left with one
pin are dropped; parallel nets are kept (merging them saves nothing measurable on
graphs this small). Both steps are compiled loops over the CSR arrays (numba).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from parawire.score.hypergraph import Hypergraph


@dataclass
class Level:
    """One coarse hypergraph, its partition, and the map from its parent's vertices onto it."""

    hypergraph: Hypergraph
    parts: np.ndarray
    cluster: np.ndarray  # parent vertex -> coarse vertex


@njit(cache=True)
def match(nptr, npins, vptr, vnets, costs, weights, parts, cap, perm):
    """Cluster id of every vertex (pairs or singletons), ids 0..n'-1, and n'."""
    n = weights.size
    rating = np.zeros(n)
    cluster = np.full(n, -1, np.int64)
    touched = np.empty(n, np.int64)  # vertices rated for u
    seen = np.zeros(n, np.bool_)
    next_id = 0
    for u in perm:
        if cluster[u] >= 0:
            continue
        cluster[u] = next_id
        count = 0
        for j in range(vptr[u], vptr[u + 1]):
            e = vnets[j]
            size = nptr[e + 1] - nptr[e]
            score = costs[e] / (size - 1)
            for i in range(nptr[e], nptr[e + 1]):
                v = npins[i]
                rating[v] += score
                if not seen[v]:
                    seen[v] = True
                    touched[count] = v
                    count += 1
        best = 0.0
        partner = -1
        for i in range(count):
            v = touched[i]
            r = rating[v]
            fits = weights[u] + weights[v] <= cap
            top = r > best or (r == best and partner >= 0 and v < partner)  # ties: lowest id
            if top and v != u and cluster[v] < 0 and parts[v] == parts[u] and fits:
                best = r
                partner = v
            rating[v] = 0.0
            seen[v] = False
        if partner >= 0:
            cluster[partner] = next_id
        next_id += 1
    return cluster, next_id


@njit(cache=True)
def contract(nptr, npins, costs, weights, cluster, n_coarse):
    """Coarse CSR arrays (nets over clusters, ≥ 2 pins) and coarse vertex weights."""
    coarse_weights = np.zeros(n_coarse, np.int64)
    for v in range(weights.size):
        coarse_weights[cluster[v]] += weights[v]
    m = nptr.size - 1
    seen = np.full(n_coarse, -1, np.int64)
    net_ptr = np.zeros(m + 1, np.int64)
    net_pins = np.empty(nptr[m], np.int64)
    net_costs = np.empty(m, np.int64)
    kept = 0
    end = 0
    for e in range(m):
        start = end
        for i in range(nptr[e], nptr[e + 1]):
            c = cluster[npins[i]]
            if seen[c] != e:
                seen[c] = e
                net_pins[end] = c
                end += 1
        if end - start >= 2:
            net_costs[kept] = costs[e]
            kept += 1
            net_ptr[kept] = end
        else:
            end = start
    net_ptr = net_ptr[: kept + 1].copy()
    net_pins = net_pins[:end].copy()
    net_costs = net_costs[:kept].copy()
    degree = np.zeros(n_coarse + 1, np.int64)
    for p in net_pins:
        degree[p + 1] += 1
    vertex_ptr = np.cumsum(degree)
    vertex_nets = np.empty(net_pins.size, np.int64)
    fill = vertex_ptr[:-1].copy()
    for e in range(net_ptr.size - 1):
        for i in range(net_ptr[e], net_ptr[e + 1]):
            p = net_pins[i]
            vertex_nets[fill[p]] = e
            fill[p] += 1
    return coarse_weights, net_costs, net_ptr, net_pins, vertex_ptr, vertex_nets


def hierarchy(
    hg: Hypergraph, parts: np.ndarray, cap: float, min_vertices: int, rng: np.random.Generator
) -> list[Level]:
    """Levels from fine to coarse; stops when matching shrinks the graph by < 10 %."""
    levels: list[Level] = []
    while hg.num_vertices > min_vertices:
        cluster, n_coarse = match(
            hg.net_ptr, hg.net_pins, hg.vertex_ptr, hg.vertex_nets, hg.net_costs,
            hg.vertex_weights, parts, float(cap), rng.permutation(hg.num_vertices),
        )
        if n_coarse > 0.9 * hg.num_vertices:
            break
        arrays = contract(hg.net_ptr, hg.net_pins, hg.net_costs, hg.vertex_weights, cluster, n_coarse)
        hg = Hypergraph(*arrays)
        coarse_parts = np.empty(n_coarse, dtype=np.int64)
        coarse_parts[cluster] = parts
        parts = coarse_parts
        levels.append(Level(hg, parts, cluster))
    return levels
