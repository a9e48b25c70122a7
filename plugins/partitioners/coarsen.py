"""Coarsening for V-cycles: contract heavy pin pairs inside the current parts.

A V-cycle (hMETIS/KaHyPar) contracts the hypergraph while respecting the current
partition, then refines level by level back to the original. On a coarse level FM moves
whole clusters at once, which escapes minima a vertex-by-vertex FM cannot.

Rating of a pair (KaHyPar's heavy-edge rating): r(u, v) = Σ_{e ∋ u,v} c_e / (|e| − 1).
Matching visits vertices in random order and pairs each with its best-rated unmatched
neighbour in the same part, provided the pair stays under a weight cap (so a coarse
vertex never exceeds what a part may hold). Identical nets are merged (costs summed) and
single-pin nets dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Level:
    """One coarse hypergraph and the map from its parent's vertices onto it."""

    a: np.ndarray
    costs: np.ndarray
    weights: np.ndarray
    parts: np.ndarray
    cluster: np.ndarray  # parent vertex -> coarse vertex


def match(
    a: np.ndarray,
    costs: np.ndarray,
    weights: np.ndarray,
    parts: np.ndarray,
    cap: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Cluster id of every vertex (pairs or singletons), ids 0..n'-1."""
    n = weights.size
    sizes = a.sum(axis=0)
    scale = np.where(sizes > 1, costs / np.maximum(sizes - 1, 1), 0.0)
    rating = (a * scale) @ a.T
    np.fill_diagonal(rating, 0.0)
    rating[parts[:, None] != parts[None, :]] = 0.0
    rating[weights[:, None] + weights[None, :] > cap] = 0.0
    # candidates of every vertex, best first, computed once (a Python loop over ≤ 200
    # vertices then only walks short lists instead of scanning a numpy row each time)
    ranked = np.argsort(-rating, axis=1, kind="stable")
    positive = (rating > 0).sum(axis=1)
    candidates = [ranked[u, : positive[u]].tolist() for u in range(n)]
    cluster = [-1] * n
    next_id = 0
    for u in rng.permutation(n).tolist():
        if cluster[u] >= 0:
            continue
        cluster[u] = next_id
        for v in candidates[u]:
            if cluster[v] < 0:
                cluster[v] = next_id
                break
        next_id += 1
    return np.asarray(cluster, dtype=np.int64)


def contract(
    a: np.ndarray, costs: np.ndarray, weights: np.ndarray, parts: np.ndarray, cluster: np.ndarray
) -> Level:
    n_coarse = int(cluster.max()) + 1
    onehot = np.zeros((cluster.size, n_coarse))
    onehot[np.arange(cluster.size), cluster] = 1.0
    coarse = (onehot.T @ a > 0).astype(np.float64)
    keep = coarse.sum(axis=0) >= 2
    nets, inverse = np.unique(coarse[:, keep].T, axis=0, return_inverse=True)
    merged = np.bincount(inverse.ravel(), weights=costs[keep], minlength=nets.shape[0])
    coarse_weights = np.zeros(n_coarse, dtype=np.int64)
    np.add.at(coarse_weights, cluster, weights)
    coarse_parts = np.empty(n_coarse, dtype=np.int64)
    coarse_parts[cluster] = parts
    return Level(np.ascontiguousarray(nets.T), merged, coarse_weights, coarse_parts, cluster)


def hierarchy(
    a: np.ndarray,
    costs: np.ndarray,
    weights: np.ndarray,
    parts: np.ndarray,
    cap: float,
    min_vertices: int,
    rng: np.random.Generator,
) -> list[Level]:
    """Levels from fine to coarse; stops when matching shrinks the graph by < 10 %."""
    levels: list[Level] = []
    while weights.size > min_vertices:
        cluster = match(a, costs, weights, parts, cap, rng)
        if cluster.max() + 1 > 0.9 * weights.size:
            break
        level = contract(a, costs, weights, parts, cluster)
        levels.append(level)
        a, costs, weights, parts = level.a, level.costs, level.weights, level.parts
    return levels
