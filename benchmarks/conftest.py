"""Figures a benchmark derives from its own timings (a ratio of two medians measured in
the same rounds), printed under pytest-benchmark's table, which shows raw times only."""

from __future__ import annotations

import pytest

_LINES = pytest.StashKey[list[str]]()


@pytest.fixture
def summary_line(request):  # type: ignore[no-untyped-def]
    """Call it with one line; the line is printed at the end of the session."""
    return request.config.stash.setdefault(_LINES, []).append


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    lines = config.stash.get(_LINES, [])
    if lines:
        terminalreporter.section("derived figures")
        for line in lines:
            terminalreporter.write_line(line)
