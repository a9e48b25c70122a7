"""``parawire study grid`` from the command line: presets keep apart, a resume with other
settings is refused naming them, the sidecar records every run, --json reads back."""

from __future__ import annotations

import json

import pytest
from parawire.cli import main
from parawire.study.store import read_meta


def grid(*args: str) -> list[str]:
    return ["study", "grid", "--quick", "--samples", "1", "--workers", "1", *args]


def test_resume_with_other_settings_is_refused_naming_them(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(grid("--generators", "dp"))
    table = tmp_path / "results" / "study-quick.csv"
    assert table.exists() and not (tmp_path / "results" / "study.csv").exists()
    before, meta = table.read_text(), read_meta(table)
    capsys.readouterr()
    for args, named in [
        (("--units", "2", "--units", "4"), "units [2, 4, 8] → [2, 4]"),
        (("--profile", "lan", "--eps", "0.1"), "eps [0.03, 0.3] → [0.1]; profile edge → lan"),
    ]:
        with pytest.raises(SystemExit):
            main(grid("--generators", "dp", *args))
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: results/study-quick.csv: made with other settings (")
        assert named in err and err.count("\n") == 0
        assert table.read_text() == before and read_meta(table) == meta
    main(grid("--generators", "chain", "--json"))  # more rows of the same settings: resumed
    summary = json.loads(capsys.readouterr().out)
    assert (summary["computed"], summary["resumed"]) == (1, 0)
    assert {cell["generator"] for cell in summary["cells"]} == {"dp", "chain"}
    recorded = read_meta(table)
    assert recorded["config"]["generators"] == ["dp", "chain"] and recorded["samples"] == 2
    assert recorded["settings"] == meta["settings"]


def _children(pid: int) -> set[int]:
    from pathlib import Path

    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


@pytest.mark.slow
def test_sigterm_stops_the_pool_and_leaves_no_worker_behind(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    if not os.path.isdir("/proc"):
        pytest.skip("needs /proc to find the pool's processes")
    proc = subprocess.Popen(
        [sys.executable, "-m", "parawire", "study", "grid", "--generators", "dp", "--samples", "400",
         "--nodes", "20", "--units", "2", "--eps", "0.1", "--batch", "1", "--workers", "2",
         "--out", str(tmp_path / "s.csv")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    pool: set[int] = set()
    while time.monotonic() < deadline and len(pool) < 2:
        pool = _children(proc.pid)
        time.sleep(0.05)
    assert len(pool) >= 2, "the pool did not start"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    assert "terminated" in proc.stderr.read()
    time.sleep(0.5)
    assert not [p for p in pool if os.path.exists(f"/proc/{p}") and "zombie" not in
                open(f"/proc/{p}/status").read().lower()]
