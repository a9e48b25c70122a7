"""``parawire run``: the workers beside every engine's single process, as a table or JSON."""

from __future__ import annotations

import json
import os

from click.testing import CliRunner
from executor_real import small_spec
from parawire.cli import cli
from parawire.errors import PluginError


def test_run_json_has_the_workers_every_single_process_row_and_the_model(tmp_path):
    spec_file = small_spec("dp").save(tmp_path / "arch.json")
    result = CliRunner().invoke(cli, ["run", str(spec_file), "--units", "2", "--local", "--transport", "inproc",
                                      "-n", "1", "--profile", "edge", "--engine", "torch", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    assert all(set(r) == {"run", "units", "engine", "median_ms", "p90_ms"} for r in rows)
    assert (rows[0]["units"], rows[0]["engine"]) == (2, "torch")
    threads = sorted({1, os.cpu_count() or 1})
    singles = [(r["engine"], r["run"]) for r in rows if r["units"] == 1]
    assert singles == [(e, f"1 process, {t} thread{'s' if t > 1 else ''}")
                       for e in ("onnxruntime", "torch") for t in threads]
    assert rows[-1]["run"] == "model (edge)" and rows[-1]["p90_ms"] is None
    assert all(r["median_ms"] > 0 for r in rows)


def test_run_table_names_the_best_single_process(tmp_path):
    spec_file = small_spec("chain").save(tmp_path / "arch.json")
    result = CliRunner().invoke(cli, ["run", str(spec_file), "--units", "2", "--local", "--transport", "inproc",
                                      "-n", "1", "--profile", "edge"])
    assert result.exit_code == 0, result.output
    assert "best single process:" in result.output and "onnxruntime" in result.output


def test_run_refuses_an_unknown_engine_naming_the_known_ones(tmp_path):
    spec_file = small_spec("dp").save(tmp_path / "arch.json")
    result = CliRunner().invoke(cli, ["run", str(spec_file), "--local", "--engine", "onnx"])
    assert isinstance(result.exception, PluginError)
    assert str(result.exception) == "unknown engine 'onnx'; known: onnxruntime, torch"
