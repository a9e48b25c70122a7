"""Per-part max segment trees over the weight-sorted vertices (numba), FM's move finder
for few parts.

With few parts the balance limit decides most moves: a part near its limit admits
only vertices up to its free room, so the set of feasible movers changes with every
move and a heap of best feasible moves keeps re-keying them. Here each target part t
has a tree over all vertices sorted by weight whose leaves hold ``gain[v, t]`` (NEG
when v cannot go to t, whatever the load), so "the best move into t that fits"
is a max over a prefix (the vertices lighter than t's room): O(log n), whatever the
loads did. Order: larger gain, then smaller ``rank``; a node stores the winning vertex
(−1 for none). Layout: ``tree[t, size + i]`` is the i-th lightest vertex, parents at
``i // 2``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

NEG_LIMIT = np.iinfo(np.int64).min // 4  # a gain at or below this means "no move"


@njit(cache=True)
def _better(a, b, t, gain, rank):
    if a < 0:
        return b
    if b < 0:
        return a
    if gain[a, t] > gain[b, t] or (gain[a, t] == gain[b, t] and rank[a] < rank[b]):
        return a
    return b


@njit(cache=True)
def build(gain, rank, by_weight):
    """Trees for all parts; ``gain`` (n × k) holds NEG where a move is impossible."""
    n, k = gain.shape
    size = 1
    while size < n:
        size *= 2
    tree = np.full((k, 2 * size), -1, np.int64)
    for t in range(k):
        for i in range(n):
            v = by_weight[i]
            if gain[v, t] > NEG_LIMIT:
                tree[t, size + i] = v
        for i in range(size - 1, 0, -1):
            tree[t, i] = _better(tree[t, 2 * i], tree[t, 2 * i + 1], t, gain, rank)
    return tree


@njit(cache=True)
def update(tree, t, slot, v, gain, rank):
    """Leaf ``slot`` (v's place in weight order) after ``gain[v, t]`` changed."""
    size = tree.shape[1] // 2
    i = size + slot
    tree[t, i] = v if gain[v, t] > NEG_LIMIT else -1
    i //= 2
    while i >= 1:
        tree[t, i] = _better(tree[t, 2 * i], tree[t, 2 * i + 1], t, gain, rank)
        i //= 2


@njit(cache=True)
def best(tree, t, count, gain, rank):
    """Best vertex among the ``count`` lightest for part t (−1 if none)."""
    size = tree.shape[1] // 2
    lo = size
    hi = size + count
    winner = -1
    while lo < hi:
        if lo & 1:
            winner = _better(winner, tree[t, lo], t, gain, rank)
            lo += 1
        if hi & 1:
            hi -= 1
            winner = _better(winner, tree[t, hi], t, gain, rank)
        lo //= 2
        hi //= 2
    return winner

