"""``multilevel``: our own hMETIS/KaHyPar-style km1 partitioner for architecture hypergraphs.

1. A portfolio of initial partitions (:mod:`.initial`: greedy hypergraph growing,
   topological chunks; plus METIS on the clique expansion, which is
   cheap and often lands in a good basin), each repaired (no empty unit, balance limit)
   and polished by k-way FM (:mod:`.gains`, compiled). Above ``large`` vertices the
   start is the best of METIS's recursive bisection on two graph models (one at
   k = 2) and, for k ≤ 8, its k-way. If none meets the balance limit and a better
   balance is possible, a heaviest-first (LPT) start is polished too.
2. The best few (one above ``large``, then with one V-cycle at k = 2) go through
   V-cycles (:mod:`.coarsen`): contract inside the current parts, refine from the
   coarsest level back down, keep the result if it is better.
3. The winner is the balanced one with the least km1; if none is balanced, the least
   overloaded, with an :class:`parawire.score.metrics.ImbalanceWarning`.

KaHyPar does not coarsen graphs this small before its initial partitioning at all (its
contraction limit is 160·k vertices), so quality here comes from the portfolio and
FM; V-cycles add cluster moves. Every random choice draws from ``rng(seed,
"multilevel")``: same seed, same partition. No wall-clock budget, for that reason:
the work is fixed by ``tries`` and ``vcycles``.
"""

from __future__ import annotations

import numpy as np
from parawire.graph.seeds import rng as make_rng
from parawire.plugins.partitioners import initial
from parawire.plugins.partitioners.coarsen import hierarchy
from parawire.plugins.partitioners.kway import KwayState, check_args, trivial_partition
from parawire.plugins.partitioners.metis import graph_model, metis_parts
from parawire.plugins.partitioners.params import MultilevelParams
from parawire.score.hypergraph import Hypergraph
from parawire.score.metrics import balance_limit, warn_if_unbalanced

SMALL = 120  # below this many vertices the tries grow as SMALL // n
# the default FM stall n/8 + 10 stops growing here (from 1120 vertices on): at 5000
# vertices (DP, k 2/8/32) a stall of 150 instead of 635 gave the same km1 in half the time
STALL_CAP = 150
# METIS starts above `large` vertices: (nets up to this many pins as cliques, recursive
# bisection, the k they are tried for). On DP/WS/BA at 1000 and 5000 vertices (seeds
# 0-1): the k-way start was 4x slower than recursive bisection at k = 32 and never the
# better one there; the 200-pin model never the better one at k = 2, where it cost
# 1.6x the 50-pin model's METIS time (BA, 5000 vertices).
METIS_STARTS = ((50, True, range(2, 2**31)), (200, True, range(3, 2**31)), (50, False, range(2, 9)))


Candidate = tuple[int, float, int, np.ndarray]  # (overload, km1, tie-break index, parts)


def _refine(state: KwayState, rng: np.random.Generator, stall: int) -> None:
    state.refine(stall, int(rng.integers(2**31)))


def _polish(hg, k, limit, parts, rng, stall) -> KwayState:
    state = KwayState(hg, k, limit, parts)
    state.repair()
    _refine(state, rng, stall)
    return state


def _vcycle(state: KwayState, rng: np.random.Generator, stall: int) -> KwayState:
    """Coarsen within parts, refine coarse → fine; returns the finest refined state."""
    cap = max(state.weights.sum() / state.k / 2, float(state.weights.max()))
    levels = hierarchy(state.hg, state.parts, cap, 2 * state.k, rng)
    if not levels:
        return state
    parts = levels[-1].parts
    for depth in range(len(levels) - 1, -1, -1):
        level = levels[depth]
        coarse = KwayState(level.hypergraph, state.k, state.limit, parts)
        _refine(coarse, rng, stall)
        parts = coarse.parts[level.cluster]
    fine = KwayState(state.hg, state.k, state.limit, parts)
    _refine(fine, rng, stall)
    return fine


def _vcycles(state: KwayState, rng: np.random.Generator, stall: int, count: int) -> KwayState:
    """Up to ``count`` V-cycles, stopping at the first that does not improve."""
    for _ in range(count):
        improved = _vcycle(state, rng, stall)
        if (improved.overload(), improved.km1()) >= (state.overload(), state.km1()):
            break
        state = improved
    return state


def partition(
    hypergraph: Hypergraph, k: int, eps: float, seed: int, params: MultilevelParams | None = None
) -> np.ndarray:
    params = params or MultilevelParams()
    check_args(hypergraph, k, eps)
    fixed = trivial_partition(hypergraph, k, eps, "multilevel")
    if fixed is not None:
        return fixed
    rng = make_rng(seed, "multilevel")
    limit = balance_limit(hypergraph.total_weight, k, eps)
    parts = _portfolio(hypergraph, k, eps, seed, limit, rng, params)
    warn_if_unbalanced(hypergraph, parts, k, eps, "multilevel")
    return parts


def _starts(hypergraph, k, eps, seed, limit, rng, params) -> list[np.ndarray]:
    """The initial partitions FM polishes: a diverse pool on small hypergraphs; above
    ``large`` vertices the best of a few METIS starts, repaired."""
    weights = hypergraph.vertex_weights
    n = weights.size
    if n > params.large:
        # Growing is O(n²) each, and on 1000–5000-vertex DP/WS/BA models FM polishing
        # and V-cycles move a start by a few % only, so the start decides: METIS's
        # recursive bisection won most often there, its k-way sometimes (DP at 5000
        # vertices, k = 2: 18 % less km1), and which graph model wins varies (nets
        # above 50 or 200 pins as stars: their cliques were 98 % of the edges and of
        # METIS's time on a 5000-vertex DP model). Polishing is most of a call's time,
        # so only the best one after repair goes on (polishing two: the same median
        # km1 in 1.3× the time).
        sizes = hypergraph.net_sizes
        runs = dict.fromkeys(  # models that expand the same nets as cliques are the same graph
            (int(sizes[sizes <= most].max(initial=1)), recursive)
            for most, recursive, ks in METIS_STARTS
            if k in ks
        )
        states, graphs = [], {}
        for most, recursive in runs:
            if most not in graphs:  # recursive and k-way on one model: one expansion
                graphs[most] = graph_model(hypergraph, "clique", most)
            parts = metis_parts(hypergraph, k, eps, seed, recursive=recursive, graph=graphs[most])
            states.append(KwayState(hypergraph, k, limit, parts))
            states[-1].repair()
        return [min(states, key=lambda state: (state.overload(), state.km1())).parts]
    order = hypergraph.order if hypergraph.order is not None else np.arange(n)
    tries = max(params.tries, SMALL // n)  # tiny hypergraphs: tries are cheap, so more
    # measured on ER/BA/WS/DP at 80 vertices: growing and METIS starts win most often,
    # chunks sometimes (chain-like DAGs), random starts almost never (so not used here).
    starts = [initial.growing(hypergraph, k, rng) for _ in range(tries)]
    starts += [initial.chunks(order, weights, k, rng) for _ in range(max(1, tries // 2))]
    starts.append(metis_parts(hypergraph, k, eps, seed))
    return starts


def _unavoidable(weights: np.ndarray, limit: int) -> int:
    """Overload no partition avoids: each vertex heavier than the limit overfills its part."""
    return int(np.maximum(weights - limit, 0).sum())


def _portfolio(hypergraph, k, eps, seed, limit, rng, params) -> np.ndarray:
    """Initial portfolio, FM polish, V-cycles on the best few; the best partition."""
    weights = hypergraph.vertex_weights
    n = weights.size
    stall = params.stall or min(n // 8 + 10, STALL_CAP)
    pool: list[Candidate] = []
    for index, start in enumerate(_starts(hypergraph, k, eps, seed, limit, rng, params)):
        state = _polish(hypergraph, k, limit, start, rng, stall)
        pool.append((state.overload(), state.km1(), index, state.parts.copy()))
    if min(pool, key=lambda c: c[:3])[0] > _unavoidable(weights, limit):  # balance is hard: LPT too
        state = _polish(hypergraph, k, limit, initial.heaviest_first(weights, k), rng, stall)
        pool.append((state.overload(), state.km1(), len(pool), state.parts.copy()))
    pool.sort(key=lambda c: c[:3])

    best = pool[0]
    keep, vcycles = params.keep, params.vcycles
    if n > params.large:
        keep = 1
        if k == 2:  # the second V-cycle gained ≤ 1.4 % km1 at 5000 vertices (DP/WS/BA, seeds
            # 0-1; 4 % on one 1000-vertex DP model) for 25-30 % of the call's time
            vcycles = min(vcycles, 1)
    for overload, cut, index, parts in pool[:keep]:
        state = _vcycles(KwayState(hypergraph, k, limit, parts), rng, stall, vcycles)
        candidate = (state.overload(), state.km1(), index, state.parts.copy())
        best = min(best, candidate, key=lambda c: c[:3])
    return best[3]
