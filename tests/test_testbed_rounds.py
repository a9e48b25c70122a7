"""Runs spread over rounds, and the rounds' breakdowns merged (parawire.testbed.rounds)."""

from __future__ import annotations

import pytest
from parawire.errors import ParawireError
from parawire.testbed.rounds import merge, split_runs


@pytest.mark.parametrize(("runs", "rounds", "chunks"), [
    (30, 3, [10, 10, 10]), (10, 3, [4, 3, 3]), (2, 3, [1, 1]), (1, 1, [1]), (7, 7, [1] * 7),
])
def test_runs_are_spread_over_the_rounds_and_none_is_lost(runs, rounds, chunks):
    assert split_runs(runs, rounds) == chunks
    assert sum(chunks) == runs


@pytest.mark.parametrize(("runs", "rounds"), [(0, 3), (5, 0), (-1, 2)])
def test_no_runs_or_no_rounds_is_refused_by_name(runs, rounds):
    with pytest.raises(ParawireError, match="runs and rounds: got"):
        split_runs(runs, rounds)


def test_runs_past_any_patience_are_refused_by_name():
    # 10**20 was accepted and timed until interrupted
    with pytest.raises(ParawireError, match="runs: got 100000000000000000000; use at most 10000 per device count"):
        split_runs(10**20, 3)
    assert sum(split_runs(10_000, 3)) == 10_000


def unit(wall_a: float, wall_b: float, cpu: float) -> dict:
    return {"unit": 0, "wall_ms": wall_a + wall_b, "cpu_ms": cpu, "calls": 2.0, "model_ms": 1.0,
            "tasks": [{"vertices": [3, 4], "wall_ms": wall_a, "cpu_ms": cpu / 2, "calls": 1.0, "model_ms": 0.5},
                      {"vertices": [7], "wall_ms": wall_b, "cpu_ms": cpu / 2, "calls": 1.0, "model_ms": 0.5}]}


def test_breakdowns_are_averaged_by_inferences_with_tasks_paired_by_their_vertices():
    first = [unit(1.0, 4.0, 2.0)]
    second = [unit(3.0, 0.5, 4.0)]
    second[0]["tasks"].reverse()  # each round sorts its tasks worst first: the order differs
    merged = merge([first, second], [1, 3])  # the second round ran three times as many inferences
    (row,) = merged
    assert row["unit"] == 0 and isinstance(row["unit"], int)  # ids are kept, not averaged into floats
    assert row["cpu_ms"] == pytest.approx((2.0 + 3 * 4.0) / 4)
    tasks = {tuple(t["vertices"]): t for t in row["tasks"]}
    assert tasks[(3, 4)]["wall_ms"] == pytest.approx((1.0 + 3 * 3.0) / 4)
    assert tasks[(7,)]["wall_ms"] == pytest.approx((4.0 + 3 * 0.5) / 4)
    assert [t["vertices"] for t in row["tasks"]] == [[3, 4], [7]]  # worst first again: |2.5−0.5| > |1.375−0.5|


def test_kernel_rows_average_per_device_and_keep_what_is_not_a_number():
    rounds = [[{"device": 0, "throttled": 1.0, "out": {"bytes": 100, "busy_ms": 2.0}, "note": "a"}],
              [{"device": 0, "throttled": 3.0, "out": {"bytes": 100, "busy_ms": 4.0}, "note": "b"}]]
    (row,) = merge(rounds, [2, 2])
    assert row == {"device": 0, "throttled": 2.0, "out": {"bytes": 100, "busy_ms": 3.0}, "note": "b"}
