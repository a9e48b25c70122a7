"""k-way FM refinement of km1 under the balance limit (Fiduccia–Mattheyses, as KaHyPar).

Each pass unlocks every vertex, then repeatedly applies the best feasible move (highest
km1 gain, negative gains allowed, so the search can climb out of a local minimum),
locks the moved vertex, and finally rolls back to the best prefix of the pass. Passes
repeat until one brings no improvement. A pass stops early after ``stall`` moves
without a new best, KaHyPar's simple stopping rule; on ≤ 200 vertices a generous
stall costs little.

Ties are broken by a per-pass random vertex order, so the seed decides, and the same
seed gives the same result.
"""

from __future__ import annotations

import numpy as np
from parawire.plugins.partitioners.kway import NEG, KwayState


def fm_pass(state: KwayState, rng: np.random.Generator, stall: int) -> float:
    """One FM pass; returns the km1 improvement kept (≥ 0).

    Only moves that keep the target part within the limit are considered. (Letting
    moves overfill a part by one vertex weight, so that FM can swap, was tried and
    measured worse: the passes spend their moves in overloaded states.)
    """
    perm = rng.permutation(state.n)
    locked = np.zeros(state.n, dtype=bool)
    history: list[tuple[int, int]] = []
    total = best = 0.0
    best_len = 0
    since_best = 0
    while since_best < stall:
        g = np.where(state.feasible() & ~locked[:, None], state.gains(), NEG)[perm]
        flat = int(np.argmax(g))
        gain = g.flat[flat]
        if gain == NEG:
            break
        i, t = divmod(flat, state.k)
        v = int(perm[i])
        history.append((v, int(state.parts[v])))
        state.move(v, t)
        locked[v] = True
        total += gain
        if total > best + 1e-9:
            best, best_len, since_best = total, len(history), 0
        else:
            since_best += 1
    undo = history[best_len:]
    if len(undo) > 4:  # rebuilding costs about as much as four moves
        parts = state.parts.copy()
        for v, source in undo:
            parts[v] = source
        state.reset(parts)
    else:
        for v, source in reversed(undo):
            state.move(v, source)
    return best


def refine(state: KwayState, rng: np.random.Generator, stall: int, max_passes: int = 10) -> None:
    """FM passes until one finds nothing (or ``max_passes``)."""
    for _ in range(max_passes):
        if fm_pass(state, rng, stall) <= 0:
            return
