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
