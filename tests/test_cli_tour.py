"""The README's commands, run from a scratch folder: each works there and writes only
its output (``results/`` by default, or the file it was told), never beside the code."""

from __future__ import annotations

import json

import pytest
from parawire.cli import main


@pytest.mark.slow
def test_readme_commands_write_only_under_results(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    main(["plugins", "--json"])
    assert any(p["name"] == "dp" for p in json.loads(capsys.readouterr().out)["plugins"])
    main(["generate", "--generator", "dp", "--nodes", "12", "--seed", "1", "-o", "arch.json"])
    main(["show", "arch.json", "--json"])
    main(["score", "arch.json", "--units", "2", "4", "--json"])
    main(["study", "grid", "--quick", "--samples", "1", "--generators", "dp", "--generators", "fb",
          "--workers", "1"])
    main(["study", "params", "--samples", "2", "--nodes", "12", "--generators", "er", "--workers", "1"])
    main(["plot", "results/study-quick.csv", "--units", "2"])
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arch.json", "results"]
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == [
        "params.csv", "study-quick-figures", "study-quick.csv", "study-quick.meta.json",
    ]
    assert len(list((tmp_path / "results" / "study-quick-figures").glob("*.png"))) == 7
