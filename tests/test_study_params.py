"""``parawire study params``: the numbers it writes are the analytical parameter counts."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from parawire.cli import cli, main
from parawire.cli.study_params import FLOWER102, run_study
from parawire.graph.spec import ArchitectureSpec
from parawire.pipeline.build import build_architecture


def expected_mean(generator, staging, seeds, nodes):
    counts = [
        build_architecture(
            ArchitectureSpec(generator=generator, staging=staging, seed=s, nodes=nodes, **FLOWER102)
        ).costs.total_params
        for s in seeds
    ]
    return np.mean(counts) / 1e6, np.std(np.asarray(counts) / 1e6, ddof=1)


def test_cli_writes_csv_and_json_with_the_analytical_counts(tmp_path):
    out_csv, out_json = tmp_path / "t4.csv", tmp_path / "t4.json"
    result = CliRunner().invoke(
        cli,
        ["study", "params", "--samples", "3", "--nodes", "12", "--generators", "er,chain",
         "--staging", "greedy", "--staging", "probabilistic", "--workers", "1",
         "--out", str(out_csv), "--out", str(out_json)],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out_csv.open()))
    assert [(r["generator"], r["staging"]) for r in rows] == [
        ("er", "greedy"), ("er", "probabilistic"), ("chain", "greedy"), ("chain", "probabilistic")
    ]
    data = json.loads(out_json.read_text())
    assert data["settings"]["input_shape"] == [3, 224, 224]
    assert data["settings"]["classes"] == 102
    for row in data["rows"]:
        mean, std = expected_mean(row["generator"], row["staging"], range(3), 12)
        assert row["mean_params_m"] == pytest.approx(mean, abs=1e-4)
        assert row["std_params_m"] == pytest.approx(std, abs=1e-4)
    assert "Parameter size" in result.output


def test_process_pool_gives_the_same_rows_as_inline():
    settings = {"nodes": 12, **FLOWER102}
    inline = run_study(["ws"], ["probabilistic"], range(60), settings, workers=1)
    pooled = run_study(["ws"], ["probabilistic"], range(60), settings, workers=2)
    assert inline == pooled


def test_unknown_generator_is_a_one_line_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["study", "params", "--samples", "2", "--generators", "erx"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown generator 'erx'" in err and err.count("\n") == 1
