"""The reproduction report: verdicts computed from the table flip with the data."""

from __future__ import annotations

import pytest
from parawire.study import report

GENS = ("er", "ba", "ws", "dp", "fb")


def fake_rows(dp_wins: bool, units=(4, 8), dp_wins_at=None) -> list[dict]:
    """A tiny table (3 samples per cell) where DP clearly wins every claim, or clearly loses.

    ``dp_wins_at`` limits DP's CS win to those unit counts (for a *partly* verdict).
    """
    rows = []
    for gen in GENS:
        for u in units:
            win = dp_wins and (dp_wins_at is None or u in dp_wins_at)
            for s, jitter in enumerate((0.98, 1.0, 1.02)):
                if gen == "dp":
                    cs, mb, lat = (0.5, 1.0, 1.0) if win else (2.0, 9.0, 7.0)
                else:
                    cs, mb, lat = 1.0, (8.0 if gen in ("er", "ba") else 4.0), 7.0
                erba = gen in ("er", "ba")
                bound = (1.0 if erba else 4.0) if dp_wins else (4.0 if erba else 1.0)
                if not dp_wins and erba:
                    mb = 1.5
                spread = (0.99, 0.995, 0.999) if u == units[0] else (0.90, 0.95, 0.97)
                entropy = spread[s] if dp_wins else (0.90, 0.95, 0.97)[s] if u == units[0] else 0.99
                rows.append(
                    {
                        "generator": gen,
                        "nodes": "40",
                        "sample": str(s),
                        "seed": str(s),
                        "units": str(u),
                        "params": "20000000",
                        "depth": "10",
                        "balanced": "1",
                        "eps": "0.1",
                        "cs": str(cs * jitter),
                        "km1_bytes": str(mb * 1e6 * jitter),
                        "latency_s": str(lat * jitter),
                        "latency_heft_s": str(lat * jitter * 0.8),
                        "lower_bound_s": str(bound),
                        "serial_s": "8.0",
                        "entropy": str(entropy),
                    }
                )
    return rows


def verdicts(rows) -> dict[str, str]:
    return {f.claim: f.verdict for f in report.findings(rows)}


CLAIMS = (
    "DP has the best concurrency score",
    "DP has the lowest communication",
    "ER/BA compute fast but communicate much",
    "DP gives 6–7× faster inference than FB",
    "Load balance degrades with more units",
)


def test_every_claim_holds_when_dp_clearly_wins():
    assert verdicts(fake_rows(dp_wins=True)) == dict.fromkeys(CLAIMS, report.HOLDS)


def test_every_claim_fails_when_dp_clearly_loses():
    assert verdicts(fake_rows(dp_wins=False)) == dict.fromkeys(CLAIMS, report.FAILS)


def test_a_claim_true_in_some_cells_only_is_partly():
    got = verdicts(fake_rows(dp_wins=True, dp_wins_at=(4,)))
    assert got["DP has the best concurrency score"] == report.PARTLY
    assert got["DP gives 6–7× faster inference than FB"] == report.PARTLY  # 7× at 4 units, 1× at 8


def test_speedup_is_measured_from_the_table():
    (finding,) = [f for f in report.findings(fake_rows(dp_wins=True)) if f.figure == "fig8"]
    assert "7.00–7.00× faster than FB's" in finding.measured


@pytest.mark.parametrize("dp_wins", [True, False])
def test_report_lists_every_claim_with_its_verdict(dp_wins, tmp_path):
    rows = fake_rows(dp_wins=dp_wins)
    fig = tmp_path / "figures" / "fig9_cs.png"
    path = report.write_report(
        tmp_path / "docs" / "reproduction.md",
        rows,
        {"fig9": [fig]},
        "study.csv",
        meta={"config": {"partitioner": "multilevel"}, "seconds": 2.0, "samples": 30},
    )
    text = path.read_text()
    expected = report.HOLDS if dp_wins else report.FAILS
    for claim in CLAIMS:
        assert f"| {claim} |" in text
        assert f"### {CLAIMS.index(claim) + 1}. {claim}: {expected}" in text
    assert ("This differs from the paper" in text) is (not dp_wins)
    assert "![fig9](../figures/fig9_cs.png)" in text
    assert "| samples/s | 15.0 |" in text and "| config: partitioner | multilevel |" in text
    assert "| DP | 40 | 8 | 3 |" in text  # the table of medians has one row per cell


def test_verdict_rule():
    assert [report.verdict(p, 4) for p in (4, 2, 0)] == [report.HOLDS, report.PARTLY, report.FAILS]
    assert report.verdict(0, 0) == report.FAILS  # nothing measured is not a confirmation


def test_close_values_are_printed_apart_and_equal_ones_equal():
    assert report.apart(1.3138, 1.3142) == ("1.3138", "1.3142")
    assert report.apart(1.31, 1.31) == ("1.31", "1.31")
    assert report.apart(7.22, 9.17) == ("7.22", "9.17")


def _cs(rows, gen, value):
    for r in rows:
        if r["generator"] == gen:
            r["cs"] = str(value)
    return rows


def test_a_near_loss_names_digits_that_differ_and_a_tie_counts_for_dp():
    rows = _cs(_cs(fake_rows(dp_wins=True), "dp", 1.3142), "ws", 1.3138)
    for gen in ("er", "ba", "fb"):
        _cs(rows, gen, 2.0)
    found = {f.claim: f for f in report.findings(rows)}["DP has the best concurrency score"]
    assert "WS 1.3138 < DP 1.3142" in found.measured and found.verdict == report.FAILS
    rows = _cs(_cs(fake_rows(dp_wins=True), "dp", 0.5), "ws", 0.5)
    for gen in ("er", "ba", "fb"):
        _cs(rows, gen, 2.0)
    found = {f.claim: f for f in report.findings(rows)}["DP has the best concurrency score"]
    assert found.verdict == report.HOLDS and "tied in 40 v / 4 u: WS = DP 0.5" in found.measured


def test_a_balance_trend_that_dips_and_recovers_is_only_partly():
    """Entropy median 0.99 → 0.90 → 0.99: first and last equal-or-better is no trend."""
    rows = []
    for units, level in ((4, 0.99), (6, 0.90), (8, 0.985)):
        for gen in GENS:
            for s, jitter in enumerate((-0.004, 0.0, 0.004)):
                rows.append({"generator": gen, "nodes": "40", "units": str(units), "sample": str(s),
                             "entropy": str(level + jitter * (1 + units))})
    found = report.claim_balance({(g, 40, u): {} for g in GENS for u in (4, 6, 8)}, rows)
    assert found.verdict == report.PARTLY
    assert "falls at 1 of 2 steps" in found.measured
