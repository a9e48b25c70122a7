"""A k-way partition with km1 move gains kept up to date (kernels in :mod:`.gains`).

The state lives on the hypergraph's CSR arrays: pin counts ``phi[e, p]`` and per-vertex
``benefit``/``penalty`` such that ``gain(v, t) = benefit[v] − penalty[v, t]`` is the km1
decrease of moving v to part t. Moves and FM passes run compiled; this class only holds
the arrays together and offers the few whole-array questions numpy answers well.

The same state serves every partitioner that must repair a partition (metis, greedy,
mtkahypar): :meth:`KwayState.repair` (:meth:`~KwayState.fill_empty`, then
:meth:`~KwayState.rebalance`) picks the least damaging moves by these gains, and
:func:`repaired` is the whole epilogue those partitioners share.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from parawire.errors import ParawireError
from parawire.plugins.partitioners import gains
from parawire.score.hypergraph import Hypergraph
from parawire.score.metrics import balance_limit, warn_if_unbalanced

NEG = -np.inf


class KwayState:
    """Mutable partition of ``hypergraph`` into ``k`` parts of weight ≤ ``limit``."""

    def __init__(self, hypergraph: Hypergraph, k: int, limit: int, parts: np.ndarray) -> None:
        self.hg = hypergraph
        self.graph = (
            hypergraph.net_ptr,
            hypergraph.net_pins,
            hypergraph.vertex_ptr,
            hypergraph.vertex_nets,
            hypergraph.net_costs,
            hypergraph.vertex_weights,
        )
        self.weights = hypergraph.vertex_weights
        self.k = k
        self.limit = limit
        self.n = hypergraph.num_vertices
        self.rows = np.arange(self.n)
        self.reset(parts)

    def reset(self, parts: np.ndarray) -> None:
        """Recompute every derived array for ``parts``."""
        self.parts = np.array(parts, dtype=np.int64)
        self.phi, self.benefit, self.penalty = gains.init_state(self.graph, self.parts, self.k)
        self.part_weight = np.zeros(self.k, dtype=np.int64)
        np.add.at(self.part_weight, self.parts, self.weights)
        self.counts = np.bincount(self.parts, minlength=self.k).astype(np.int64)

    def _state(self) -> tuple:
        """The arrays a kernel updates, in the kernels' order."""
        return self.parts, self.phi, self.benefit, self.penalty, self.part_weight, self.counts

    # --- objective -----------------------------------------------------------------
    def km1(self) -> int:
        return int(self.hg.net_costs @ ((self.phi > 0).sum(axis=1) - 1))

    def overload(self) -> int:
        """Total weight above the limit over all parts (0 = balanced)."""
        return int(np.maximum(self.part_weight - self.limit, 0).sum())

    def gains(self, rows: np.ndarray | None = None) -> np.ndarray:
        """rows × k matrix (all vertices by default) of km1 decrease for moving v to
        part t (−inf for its own part)."""
        rows = self.rows if rows is None else rows
        g = (self.benefit[rows, None] - self.penalty[rows]).astype(np.float64)
        g[np.arange(rows.size), self.parts[rows]] = NEG
        return g

    def feasible(self, rows: np.ndarray | None = None) -> np.ndarray:
        """rows × k mask of moves that keep the target under the limit and its source
        non-empty."""
        rows = self.rows if rows is None else rows
        fits = self.part_weight[None, :] + self.weights[rows, None] <= self.limit
        return fits & (self.counts[self.parts[rows]] > 1)[:, None]

    # --- moves ---------------------------------------------------------------------
    def move(self, v: int, t: int) -> None:
        gains.move(v, t, self.graph, self._state())

    def refine(self, stall: int, seed: int, max_passes: int = 10) -> None:
        """k-way FM passes (see :func:`gains.fm_pass`) until one finds nothing."""
        gains.refine(self.graph, self._state(), self.limit, stall, max_passes, seed)

    def repair(self) -> None:
        """No empty part, then the balance limit, each by least km1 damage."""
        self.fill_empty()
        self.rebalance()

    def fill_empty(self) -> None:
        """Give every empty part one vertex (best gain, from a part with ≥ 2 vertices)."""
        if self.n < self.k:
            return
        for t in np.flatnonzero(self.counts == 0):
            g = self.gains()[:, t]
            g[self.counts[self.parts] < 2] = NEG
            self.move(int(np.argmax(g)), int(t))

    def rebalance(self) -> None:
        """Move vertices out of overweight parts, least km1 damage first, until the limit
        holds; when no move fits, the single move or swap that cuts the total overload
        most; stop when none does (then the caller warns).

        Only vertices of overweight parts can lower the overload, so only their rows
        are built (ascending, so ties still go to the lowest vertex, then part)."""
        while True:
            over = self.part_weight > self.limit
            if not over.any():
                return
            rows = np.flatnonzero(over[self.parts] & (self.weights > 0))
            ok = self.feasible(rows)
            if ok.any():
                g = np.where(ok, self.gains(rows), NEG)
                i, t = np.unravel_index(int(np.argmax(g)), g.shape)
                self.move(int(rows[i]), int(t))
            elif not self._cut_overload():
                return

    def _excess(self, weight: np.ndarray) -> np.ndarray:
        return np.maximum(weight - self.limit, 0)

    def _cut_overload(self) -> bool:
        """Apply the move or swap that lowers Σ overload most; False if none lowers it.

        Swaps matter at tight ε with heavy, uneven vertices (FLOPs): no vertex fits
        anywhere, but trading a heavy one for a lighter one does. Either way a vertex u
        of an overweight part must leave (nothing else lowers Σ overload), so rows are
        those u only: |U| × k and |U| × n instead of n × n.

        Likewise a swap partner v must sit in a part below the limit (one at or over it
        cannot take weight without its own overload growing as much), and the swaps
        are scanned by :func:`_best_swap` without building |U| × n matrices: at ε = 0
        with FLOP-sized weights most parts end up a little over, and those matrices
        made 2,000 vertices on 64 units take a minute."""
        w, parts, load = self.weights, self.parts, self.part_weight
        own = load[parts]
        rows = np.flatnonzero(own > self.limit)
        cols = np.flatnonzero(own < self.limit)
        wu, su = w[rows], parts[rows]
        mine = own[rows][:, None]  # the load of each row's own part
        before = self._excess(mine) + self._excess(load)[None, :]
        after = self._excess(mine - wu[:, None]) + self._excess(load[None, :] + wu[:, None])
        single = np.where(self.counts[su][:, None] > 1, before - after, 0)
        single[np.arange(rows.size), su] = 0
        swap, i, j = _best_swap(wu, own[rows], w[cols], own[cols], self.limit)
        if max(single.max(initial=0), swap) <= 0:
            return False
        if single.max() >= swap:
            i, t = np.unravel_index(int(np.argmax(single)), single.shape)
            self.move(int(rows[i]), int(t))
        else:
            u, v = int(rows[i]), int(cols[j])
            s, t = int(parts[u]), int(parts[v])
            self.move(u, t)
            self.move(int(v), s)
        return True


@njit(cache=True)
def _best_swap(wu, su_load, wv, tv_load, limit):
    """(Σ-overload decrease, i, j) of the best swap of vertex i (weight ``wu[i]``, in a
    part of load ``su_load[i]`` over ``limit``) with vertex j (``wv[j]``, in a part of
    load ``tv_load[j]`` under it): the first of the largest in row-major order, as
    ``argmax`` would pick; (0, -1, -1) when no swap lowers it."""
    best, bi, bj = 0, -1, -1
    for i in range(wu.size):
        mine = su_load[i] - limit
        for j in range(wv.size):
            delta = wv[j] - wu[i]  # the over part gets w_v − w_u, the other w_u − w_v
            gain = mine - max(mine + delta, 0) - max(tv_load[j] - delta - limit, 0)
            if gain > best:
                best, bi, bj = gain, i, j
    return best, bi, bj


def check_args(hg: Hypergraph, k: int, eps: float) -> None:
    """One-line errors for arguments no partitioner can work with."""
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ParawireError(f"k: got {k!r}; the number of units must be an integer ≥ 1")
    if not 0 <= eps < math.inf:
        raise ParawireError(f"eps: got {eps!r}; the imbalance ε must be a finite number ≥ 0 (e.g. 0.03)")


def trivial_partition(
    hg: Hypergraph, k: int, eps: float | None = None, who: str = "partitioner"
) -> np.ndarray | None:
    """The answer when there is no choice: one unit, or at most one vertex per unit.

    With k ≥ |V| one vertex per unit is the best balance there is, yet the heaviest
    vertex may still outweigh the limit (1+ε)·⌈W/k⌉ (always when k > |V| and the
    weights are positive): then the promised :class:`ImbalanceWarning` names ``who``.
    Pass ``eps`` for that (every built-in does); without it nothing is checked."""
    if k == 1:
        return np.zeros(hg.num_vertices, dtype=np.int64)
    if hg.num_vertices <= k:
        parts = np.arange(hg.num_vertices, dtype=np.int64)
        if eps is not None:
            warn_if_unbalanced(hg, parts, k, eps, who, stacklevel=4)
        return parts
    return None


def state_for(hg: Hypergraph, k: int, eps: float, parts: np.ndarray) -> KwayState:
    return KwayState(hg, k, balance_limit(hg.total_weight, k, eps), parts)


def repaired(hg: Hypergraph, k: int, eps: float, parts: np.ndarray, who: str) -> np.ndarray:
    """``parts`` repaired (:meth:`KwayState.repair`), with an ImbalanceWarning naming
    ``who`` if the limit still fails: how every partitioner that trusts an outside
    answer (metis, greedy, mtkahypar) keeps the partitioner contract."""
    state = state_for(hg, k, eps, parts)
    state.repair()
    warn_if_unbalanced(hg, state.parts, k, eps, who, stacklevel=4)
    return state.parts
