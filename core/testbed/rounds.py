"""Device counts measured round by round, and the rounds' breakdowns merged.

The testbed's devices drift: the same single-device point measured 20 ms in one run and
40 ms in the next (docs/testbed.md), and a run measures its device counts minutes apart.
Measured one after the other, a point on 2 devices was compared with a prediction
fitted to a single-device run taken in another state of the machine. So ``testbed
run`` measures every device count in each of several rounds (``rounds``), a slice of
the timed runs per round, as the engine table interleaves its rows; the medians and the
fit then see the same mix of states.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

from parawire.calibration.timing import MAX_TIMED_RUNS
from parawire.errors import ParawireError
from parawire.testbed.breakdown import worst_first

ROUNDS = 3
"""Rounds a ``testbed run`` spreads each device count's timed runs over, by default."""


def split_runs(runs: int, rounds: int) -> list[int]:
    """``runs`` timed inferences spread over ``rounds`` rounds (the first rounds take one
    more when they do not divide); fewer rounds when there are fewer runs than rounds."""
    if runs < 1 or rounds < 1:
        raise ParawireError(f"runs and rounds: got {runs} and {rounds}; need at least 1 of each")
    if runs > MAX_TIMED_RUNS:
        raise ParawireError(f"runs: got {runs}; use at most {MAX_TIMED_RUNS} per device count")
    rounds = min(rounds, runs)
    return [runs // rounds + (i < runs % rounds) for i in range(rounds)]


def merge(rows: Sequence, weights: Sequence[float]):  # type: ignore[no-untyped-def]
    """The rounds' breakdowns (per-inference figures in the same nested shape each round)
    as one: numbers averaged with ``weights`` (each round's inferences) and rounded as the
    breakdowns round them (3 decimals); lists of dicts paired by their ``vertices``, or
    by position; anything else taken from the last round. Tasks are re-sorted
    :func:`~parawire.testbed.breakdown.worst_first`."""
    last = rows[-1]
    if isinstance(last, bool) or last is None or isinstance(last, str):
        return last
    if isinstance(last, Real):
        if any(not isinstance(r, Real) for r in rows) or all(r == last for r in rows):
            return last  # ids and counts that do not change keep their type
        return round(sum(float(r) * w for r, w in zip(rows, weights, strict=True)) / sum(weights), 3)
    if isinstance(last, dict):
        return {key: merge([r.get(key) for r in rows], weights) if all(key in r for r in rows) else value
                for key, value in last.items()}
    if isinstance(last, list):
        if last and all(isinstance(item, dict) and "vertices" in item for item in last):
            keyed = [{tuple(t["vertices"]): t for t in r} for r in rows]
            merged = [merge([k[key] for k in keyed], weights) if all(key in k for k in keyed) else item
                      for key, item in keyed[-1].items()]
            return worst_first(merged)
        if all(isinstance(r, list) and len(r) == len(last) for r in rows):
            return [merge([r[i] for r in rows], weights) for i in range(len(last))]
    return last
