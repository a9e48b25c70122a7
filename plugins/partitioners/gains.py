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
NO_LIMIT = np.iinfo(np.int64).max // 4  # above any load: "whatever the loads"
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
def _best_move(v, state, w, limit):
    """(gain, part) of moving v (weight ``w``) to the part that gains most among those
    whose load stays within ``limit``, (NEG, −1) if none or v's part must keep it; ties
    go to the lowest part."""
    parts, _, benefit, penalty, load, count = state
    s = parts[v]
    top = NEG
    bt = -1
    if count[s] < 2:
        return top, bt
    for t in range(load.size):
        if t != s and load[t] + w <= limit:
            g = benefit[v] - penalty[v, t]
            if g > top:
                top = g
                bt = t
    return top, bt


@njit(cache=True)
def best_target(v, state, weights, limit):
    """(gain, part) of v's best feasible move, (NEG, −1) if none: the target stays
    within ``limit``, the source keeps a vertex; ties go to the lowest part."""
    return _best_move(v, state, weights[v], limit)


@njit(cache=True)
def _unconstrained(u, state):
    """(gain, part) of u's best move whatever the loads, (NEG, −1) if u's part must keep
    it; ties go to the lowest part."""
    return _best_move(u, state, 0, NO_LIMIT)


@njit(cache=True)
def _drop(u, held):
    """Take u out of the held set (no-op when absent)."""
    members, at, size = held
    i = at[u]
    if i < 0:
        return
    size[0] -= 1
    last = members[size[0]]
    members[i] = last
    at[last] = i
    at[u] = -1


@njit(cache=True)
def _hold(u, held):
    members, at, size = held
    if at[u] < 0:
        members[size[0]] = u
        at[u] = size[0]
        size[0] += 1


@njit(cache=True)
def _rekey(u, state, queue, key, dest, rank, best, held):
    """Key u by its best move whatever the loads (an upper bound on its best feasible
    move, checked when u reaches the top); ``best`` keeps that move (gain, part)."""
    heap, pos, size = queue
    g, t = _unconstrained(u, state)
    best[u, 0] = g
    best[u, 1] = t
    _drop(u, held)
    if t < 0:
        remove(heap, pos, size, u, key, rank)
    else:
        key[u] = g
        dest[u] = t
        place(heap, pos, size, u, key, rank)


@njit(cache=True)
def _raise(u, t, state, queue, key, dest, rank, best):
    """u's gain for part t rose (and no other): raise its key and best move if t now
    beats them."""
    parts, _, benefit, penalty, _, count = state
    if parts[u] == t or count[parts[u]] < 2:
        return
    g = benefit[u] - penalty[u, t]
    if g > best[u, 0] or (g == best[u, 0] and t < best[u, 1]):
        best[u, 0] = g
        best[u, 1] = t
    if g > key[u] or (g == key[u] and t < dest[u]):
        heap, pos, size = queue
        key[u] = g
        dest[u] = t
        place(heap, pos, size, u, key, rank)


@njit(cache=True)
def _settle(u, state, weights, limit, queue, key, dest, rank, best, held):
    """The top u's move does not fit: key it by its best feasible move instead, and hold
    it while that is not its best move (a part's room may bring that back; a tie in
    gain still counts, as the lower part wins it)."""
    heap, pos, size = queue
    g, t = best_target(u, state, weights, limit)
    if t < 0:
        remove(heap, pos, size, u, key, rank)
        key[u] = NEG
        dest[u] = -1
    else:
        key[u] = g
        dest[u] = t
        place(heap, pos, size, u, key, rank)
    if g != best[u, 0] or t != best[u, 1]:
        _hold(u, held)


@njit(cache=True)
def _room(s, state, weights, limit, queue, key, dest, rank, best, held, locked):
    """Part s gained room: a held vertex whose move into s now fits and beats its key
    takes it; one whose key is back at its best move is let go."""
    parts, _, benefit, penalty, load, count = state
    heap, pos, size = queue
    members, _, held_size = held
    i = held_size[0] - 1
    while i >= 0:
        u = members[i]
        i -= 1
        if locked[u]:
            _drop(u, held)
            continue
        if parts[u] == s or count[parts[u]] < 2 or load[s] + weights[u] > limit:
            continue
        g = benefit[u] - penalty[u, s]
        if g > key[u] or (g == key[u] and s < dest[u]):
            key[u] = g
            dest[u] = s
            place(heap, pos, size, u, key, rank)
            if g == best[u, 0] and s == best[u, 1]:
                _drop(u, held)


@njit(cache=True)
def _rekey_part(p, state, queue, key, dest, rank, best, held, locked):
    """Re-key every unlocked vertex of part p (its vertex count crossed 1/2: rare)."""
    parts = state[0]
    for u in range(parts.size):
        if parts[u] == p and not locked[u]:
            _rekey(u, state, queue, key, dest, rank, best, held)


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
def fm_pass(graph, state, limit, perm, stall, by_weight):
    """One FM pass; returns the km1 improvement kept (≥ 0). ``by_weight``: see
    :func:`weight_order`.

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
    * above, a max-heap (:mod:`.heap`) keyed by an upper bound on each vertex's best
      feasible move: its best move whatever the loads, raised at once when a gain
      rises, left high when one falls. The top is checked before it moves: if its
      gain fell it is re-keyed; if its move does not fit (the target is full, or its
      source down to one vertex) it is keyed by its best feasible move and, while
      that is not its best move, held. As every key is at least its vertex's true
      value, a top that passes both checks is the true best. Only held vertices can
      gain from a part's new room, so after a move only they are checked against the
      lightened source. (Keys by best feasible move had to be raised for every vertex
      that now fit into the source, a slice of the weight-sorted vertices: ≈ 4300 of
      5000 vertices a move on a BA model at k = 32.) With few parts that slice churned
      on every move (k = 2 on a 1000-vertex DP model: 0.40 s of FM against 0.03 s for
      the scan), hence the trees.

    Either way a move updates the pins of the nets whose gains it changed (the delta
    rules of :func:`move`; the heap re-keys a pin in O(k) only when its benefit rose,
    in O(1) when only its gain into the target rose) and, when a part's count rises
    to 2, that part's vertices (its lone vertex may move again).
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
    sorted_w = weights[by_weight]
    few = k <= FEW
    # heap finder
    key = np.full(n, NEG, np.int64)
    dest = np.full(n, -1, np.int64)
    best_move = np.full((n, 2), NEG, np.int64)
    queue = (np.empty(n, np.int64), np.full(n, -1, np.int64), np.zeros(1, np.int64))
    held = (np.empty(n, np.int64), np.full(n, -1, np.int64), np.zeros(1, np.int64))
    heap, pos, size = queue
    # tree finder
    slot = np.empty(n, np.int64)
    slot[by_weight] = np.arange(by_weight.size)
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
            _rekey(v, state, queue, key, dest, rank, best_move, held)
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
            if benefit[bv] - penalty[bv, bt] != key[bv]:  # that gain fell since: re-key
                _rekey(bv, state, queue, key, dest, rank, best_move, held)
                continue
            if count[parts[bv]] < 2 or load[bt] + weights[bv] > limit:  # does not fit
                _settle(bv, state, weights, limit, queue, key, dest, rank, best_move, held)
                continue
            top = key[bv]
        s = parts[bv]
        moved[done] = bv
        source[done] = s
        done += 1
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
            _drop(bv, held)
        for j in range(vptr[bv], vptr[bv + 1]):
            e = vnets[j]
            left = phi[e, s]
            now = phi[e, bt]
            if left > 1 and now > 2:
                continue
            for i in range(nptr[e], nptr[e + 1]):
                u = npins[i]
                if locked[u]:
                    continue
                if few:
                    _regain(u, state, locked, gain, tree, slot, rank)
                elif left == 1 and parts[u] == s:  # its benefit rose: every gain did
                    _rekey(u, state, queue, key, dest, rank, best_move, held)
                elif now == 1:  # joining bt got cheaper; falls wait for the top check
                    _raise(u, bt, state, queue, key, dest, rank, best_move)
        if few:  # movability changed only where a count crossed 1/2
            for p in (s, bt):
                if count[p] == 1 or (p == bt and count[p] == 2):
                    for u in range(n):
                        if parts[u] == p and not locked[u]:
                            _regain(u, state, locked, gain, tree, slot, rank)
            continue
        _room(s, state, weights, limit, queue, key, dest, rank, best_move, held, locked)
        if count[bt] == 2:
            _rekey_part(bt, state, queue, key, dest, rank, best_move, held, locked)
    for i in range(done - 1, best_len - 1, -1):
        move(moved[i], source[i], graph, state)
    return best


@njit(cache=True)
def refine(graph, state, limit, stall, max_passes, seed):
    """FM passes, each with a fresh random tie-break order, until one finds nothing."""
    np.random.seed(seed)
    by_weight = weight_order(graph[5], state[4].size)
    for _ in range(max_passes):
        perm = np.random.permutation(state[0].size)
        if fm_pass(graph, state, limit, perm, stall, by_weight) <= 0:
            return


@njit(cache=True)
def weight_order(weights, k):
    """The vertices by ascending weight (stable) where the tree finder needs them (k ≤
    FEW), else none: sorted once per :func:`refine`, not per pass (0.44 ms of a pass's
    ≈ 0.9 ms set-up at 5000 vertices)."""
    if k <= FEW:
        return np.argsort(weights, kind="mergesort")
    return np.empty(0, np.int64)
