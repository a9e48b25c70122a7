"""Compiled km1 gain bookkeeping and the k-way FM pass (numba).

The partitioner spends nearly all its time in FM moves, thousands per call. With numpy
each move cost ≈ 12 µs of per-call overhead on arrays of a few hundred entries; these
kernels do the same work in ≈ 0.1–1 µs, so they are plain loops compiled with
``@njit(cache=True)`` (compiled once per machine, then loaded from ``__pycache__``).

State of a k-way partition of a CSR hypergraph (``nptr``/``npins`` pins of each net,
``vptr``/``vnets`` nets of each vertex, integer ``costs``):

* ``phi[e, p]``: pins of net e in part p;
* ``benefit[v] = Σ_{e∋v, phi[e, part v] = 1} c_e``: what v saves by leaving its part;
* ``penalty[v, t] = Σ_{e∋v, phi[e, t] = 0} c_e``: what v costs by joining part t;
* ``gain(v, t) = benefit[v] − penalty[v, t]``: km1 decrease of moving v to t.

Kernels take the hypergraph as one tuple ``graph = (nptr, npins, vptr, vnets, costs,
weights)`` and the mutable state as ``state = (parts, phi, benefit, penalty, load,
count)`` (``load``/``count``: weight and vertices per part).

A move only changes ``phi`` on the moved vertex's nets, and only when a count passes
0, 1 or 2 do the pins' gains change (KaHyPar's delta-gain rules), so a move costs the
pins of those few nets. All arithmetic is int64: gains are exact, ties are real ties.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from parawire.plugins.partitioners import prefix_max
from parawire.plugins.partitioners.heap import place, remove

NEG = np.iinfo(np.int64).min // 4  # below any gain: "no move"
FEW = 4  # FM finds moves with per-part trees up to this many parts, with a heap above


@njit(cache=True)
def init_state(graph, parts, k):
    """``phi``, ``benefit``, ``penalty`` of ``parts`` from scratch."""
    nptr, npins, vptr, vnets, costs, _ = graph
    m = nptr.size - 1
    n = vptr.size - 1
    phi = np.zeros((m, k), np.int64)
    for e in range(m):
        for i in range(nptr[e], nptr[e + 1]):
            phi[e, parts[npins[i]]] += 1
    benefit = np.zeros(n, np.int64)
    penalty = np.zeros((n, k), np.int64)
    for v in range(n):
        p = parts[v]
        for j in range(vptr[v], vptr[v + 1]):
            e = vnets[j]
            c = costs[e]
            if phi[e, p] == 1:
                benefit[v] += c
            for t in range(k):
                if phi[e, t] == 0:
                    penalty[v, t] += c
    return phi, benefit, penalty


@njit(cache=True)
def move(v, t, graph, state):
    """Move v to part t, updating every array in place (delta-gain rules)."""
    nptr, npins, vptr, vnets, costs, weights = graph
    parts, phi, benefit, penalty, load, count = state
    s = parts[v]
    if s == t:
        return
    parts[v] = t
    load[s] -= weights[v]
    load[t] += weights[v]
    count[s] -= 1
    count[t] += 1
    for j in range(vptr[v], vptr[v + 1]):
        e = vnets[j]
        c = costs[e]
        phi[e, s] -= 1
        phi[e, t] += 1
        left = phi[e, s]  # pins of e still in s
        now = phi[e, t]  # pins of e in t, v included
        if left > 1 and now > 2:
            continue
        for i in range(nptr[e], nptr[e + 1]):
            u = npins[i]
            if left == 0:  # e no longer touches s: joining s now costs c
                penalty[u, s] += c
            if now == 1:  # e newly touches t: joining t is free
                penalty[u, t] -= c
            if u != v:
                if left == 1 and parts[u] == s:  # u is e's last pin in s
                    benefit[u] += c
                elif now == 2 and parts[u] == t:  # u is no longer alone in t
                    benefit[u] -= c
    own = 0
    for j in range(vptr[v], vptr[v + 1]):
        e = vnets[j]
        if phi[e, t] == 1:
            own += costs[e]
    benefit[v] = own


@njit(cache=True)
def best_target(v, state, weights, limit):
    """(gain, part) of v's best feasible move, (NEG, −1) if none: the target stays
    within ``limit``, the source keeps a vertex; ties go to the lowest part."""
    parts, _, benefit, penalty, load, count = state
    s = parts[v]
    top = NEG
    bt = -1
    if count[s] < 2:
        return top, bt
    w = weights[v]
    for t in range(load.size):
        if t != s and load[t] + w <= limit:
            g = benefit[v] - penalty[v, t]
            if g > top:
                top = g
                bt = t
    return top, bt


@njit(cache=True)
def _rekey(u, state, weights, limit, queue, key, dest, rank):
    heap, pos, size = queue
    g, t = best_target(u, state, weights, limit)
    if t < 0:
        remove(heap, pos, size, u, key, rank)
    else:
        key[u] = g
        dest[u] = t
        place(heap, pos, size, u, key, rank)


@njit(cache=True)
def _rekey_part(p, state, weights, limit, queue, key, dest, rank, locked):
    """Re-key every unlocked vertex of part p (its vertex count crossed 1/2: rare)."""
    parts = state[0]
    for u in range(parts.size):
        if parts[u] == p and not locked[u]:
            _rekey(u, state, weights, limit, queue, key, dest, rank)


@njit(cache=True)
def _regain(u, state, locked, gain, tree, slot, rank):
    """Row u of the gain matrix (NEG: no move, whatever the loads) and its tree leaves."""
    parts, _, benefit, penalty, _, count = state
    s = parts[u]
    movable = not locked[u] and count[s] > 1
    for t in range(gain.shape[1]):
        gain[u, t] = benefit[u] - penalty[u, t] if movable and t != s else NEG
        prefix_max.update(tree, t, slot[u], u, gain, rank)


@njit(cache=True)
def _by_trees(tree, gain, rank, sorted_w, load, limit):
    """(gain, vertex, part) of the best feasible move, one prefix query per part."""
    top = NEG
    bv = -1
    bt = -1
    for t in range(load.size):
        fits = np.searchsorted(sorted_w, limit - load[t], side="right")
        v = prefix_max.best(tree, t, fits, gain, rank)
        if v >= 0 and (gain[v, t] > top or (gain[v, t] == top and rank[v] < rank[bv])):
            top = gain[v, t]
            bv = v
            bt = t
    return top, bv, bt


@njit(cache=True)
def fm_pass(graph, state, limit, perm, stall):
    """One FM pass; returns the km1 improvement kept (≥ 0).

    Repeatedly applies the best feasible move of an unlocked vertex (the target stays
    within ``limit``, the source keeps a vertex; negative gains allowed), locks it, stops
    after ``stall`` moves without a new best, and rolls back to the best prefix. Ties go
    to the vertex first in ``perm``, then the lowest part. (Letting moves overfill a part
    by one vertex, so that FM can swap, was measured worse.)

    Finding that move by scanning every vertex × part made a pass O(n²·k) and
    ``multilevel`` grow as V^1.6; two exact finders replace the scan, both picking the
    very move the scan picked:

    * up to ``FEW`` parts, per-part max trees over the weight-sorted vertices
      (:mod:`.prefix_max`): the best move into t that fits is a prefix max, whatever the
      loads did, so only vertices whose gains changed are updated (O(k log n) each);
    * above, a max-heap (:mod:`.heap`) keyed by each vertex's best feasible gain (O(k)
      to re-key, not O(k log n)). Keys that only fall through loads (the target filled
      up, the source shrank to one vertex) are fixed lazily: the top is checked before
      it moves, and as every other key is then at least its true value, the checked
      top is the true best. Keys that rise are fixed at once: the vertices that now fit
      into the lightened source (a slice of the weight-sorted vertices), re-keyed if the
      source beats their key. With few parts that slice churns on every move (k = 2 on a
      1000-vertex DP model: 0.40 s of FM against 0.03 s for the scan), hence the trees.

    Either way a move re-keys the pins of the nets whose gains it changed (the delta
    rules of :func:`move`) and, when a part's count rises to 2, that part's vertices
    (its lone vertex may move again).
    """
    nptr, npins, vptr, vnets, _, weights = graph
    parts, phi, benefit, penalty, load, count = state
    n = parts.size
    k = load.size
    locked = np.zeros(n, np.bool_)
    moved = np.empty(n, np.int64)
    source = np.empty(n, np.int64)
    rank = np.empty(n, np.int64)
    rank[perm] = np.arange(n)
    by_weight = np.argsort(weights, kind="mergesort")
    sorted_w = weights[by_weight]
    few = k <= FEW
    # heap finder
    key = np.full(n, NEG, np.int64)
    dest = np.full(n, -1, np.int64)
    queue = (np.empty(n, np.int64), np.full(n, -1, np.int64), np.zeros(1, np.int64))
    heap, pos, size = queue
    # tree finder
    slot = np.empty(n, np.int64)
    slot[by_weight] = np.arange(n)
    gain = np.full((n if few else 0, k), NEG, np.int64)
    tree = np.full((k, 2), -1, np.int64)
    if few:
        for v in range(n):
            if count[parts[v]] > 1:
                for t in range(k):
                    if t != parts[v]:
                        gain[v, t] = benefit[v] - penalty[v, t]
        tree = prefix_max.build(gain, rank, by_weight)
    else:
        for v in range(n):
            _rekey(v, state, weights, limit, queue, key, dest, rank)
    done = 0
    total = 0
    best = 0
    best_len = 0
    since_best = 0
    while since_best < stall:
        if few:
            top, bv, bt = _by_trees(tree, gain, rank, sorted_w, load, limit)
            if bv < 0:
                break
        else:
            if size[0] == 0:
                break
            bv = heap[0]
            bt = dest[bv]
            if count[parts[bv]] < 2 or load[bt] + weights[bv] > limit:  # stale: stopped fitting
                _rekey(bv, state, weights, limit, queue, key, dest, rank)
                continue
            top = key[bv]
        s = parts[bv]
        moved[done] = bv
        source[done] = s
        done += 1
        room_s = limit - load[s]
        move(bv, bt, graph, state)
        locked[bv] = True
        total += top
        if total > best:
            best = total
            best_len = done
            since_best = 0
        else:
            since_best += 1
        if few:
            _regain(bv, state, locked, gain, tree, slot, rank)
        else:
            remove(heap, pos, size, bv, key, rank)
        for j in range(vptr[bv], vptr[bv + 1]):
            e = vnets[j]
            if phi[e, s] > 1 and phi[e, bt] > 2:
                continue
            for i in range(nptr[e], nptr[e + 1]):
                u = npins[i]
                if locked[u]:
                    continue
                if few:
                    _regain(u, state, locked, gain, tree, slot, rank)
                else:
                    _rekey(u, state, weights, limit, queue, key, dest, rank)
        if few:  # movability changed only where a count crossed 1/2
            for p in (s, bt):
                if count[p] == 1 or (p == bt and count[p] == 2):
                    for u in range(n):
                        if parts[u] == p and not locked[u]:
                            _regain(u, state, locked, gain, tree, slot, rank)
            continue
        # s now fits weights in (room_s, room_s + w]: only matters if s beats the key
        lo = np.searchsorted(sorted_w, room_s, side="right")
        hi = np.searchsorted(sorted_w, limit - load[s], side="right")
        for i in range(lo, hi):
            u = by_weight[i]
            if locked[u] or parts[u] == s:
                continue
            g = benefit[u] - penalty[u, s]
            better = g > key[u] or (g == key[u] and s < dest[u])
            if count[parts[u]] > 1 and (pos[u] < 0 or better):  # s is its best (or only) move
                key[u] = g
                dest[u] = s
                place(heap, pos, size, u, key, rank)
        if count[bt] == 2:
            _rekey_part(bt, state, weights, limit, queue, key, dest, rank, locked)
    for i in range(done - 1, best_len - 1, -1):
        move(moved[i], source[i], graph, state)
    return best


@njit(cache=True)
def refine(graph, state, limit, stall, max_passes, seed):
    """FM passes, each with a fresh random tie-break order, until one finds nothing."""
    np.random.seed(seed)
    for _ in range(max_passes):
        perm = np.random.permutation(state[0].size)
        if fm_pass(graph, state, limit, perm, stall) <= 0:
            return
