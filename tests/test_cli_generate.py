"""``parawire generate`` writes a spec that ``parawire show`` reads; bad input exits 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from parawire.graph.spec import ArchitectureSpec
from parawire.graph.stats import dag_stats
from parawire.pipeline.build import build_dag
from parawire.registry.params import parse_value

PARAWIRE = Path(sys.executable).with_name("parawire")



@pytest.mark.parametrize(
    "text,value",
    [("3", 3), ("0.5", 0.5), ("1e-3", 1e-3), ("true", True), ("False", False), ("x", "x")],
)
def test_param_values_are_typed(text, value):
    got = parse_value(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_generate_writes_a_spec_that_show_reads(tmp_path, suffix, cli):
    path = tmp_path / f"arch{suffix}"
    code, out, _ = cli(
        "generate",
        "--generator",
        "dp",
        "--nodes",
        "30",
        "--seed",
        "1",
        "--param",
        "alpha=0.5",
        "--param",
        "beta=2",
        "-o",
        str(path),
    )
    assert code == 0 and "wrote" in out and "alpha=0.5" in out
    spec = ArchitectureSpec.load(path)
    assert (spec.generator, spec.nodes, spec.seed, spec.params) == (
        "dp",
        30,
        1,
        {"alpha": 0.5, "beta": 2},
    )
    code, out, _ = cli("show", str(path), "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["spec"] == spec.model_dump(mode="json")
    assert shown["stats"] == dag_stats(build_dag(spec)).to_dict()
    code, out, _ = cli("show", str(path))
    assert code == 0 and "width per depth level" in out and "depth" in out


def test_bad_param_exits_2_with_one_line_naming_the_field(tmp_path, cli):
    path = tmp_path / "arch.json"
    code, _, err = cli("generate", "-g", "dp", "-p", "alpha=-1", "-o", str(path))
    assert code == 2 and not path.exists()
    assert err.strip().splitlines() == [
        "error: params[dp].alpha: got -1; Input should be greater than or equal to 0"
    ]


def test_unknown_param_and_draw_time_checks_fail_before_writing(tmp_path, cli):
    path = tmp_path / "arch.json"
    code, _, err = cli("generate", "-g", "ws", "-p", "q=1", "-o", str(path))
    assert code == 2 and "params[ws].q" in err and not path.exists()
    code, _, err = cli("generate", "-g", "ws", "-n", "4", "-o", str(path))
    assert (
        code == 2
        and "params[ws].k: got 4; must be less than nodes (4)" in err
        and not path.exists()
    )


def test_malformed_param_is_a_usage_error(cli):
    code, _, err = cli("generate", "-p", "alpha")
    assert code == 2 and "write NAME=VALUE" in err


def test_show_missing_file_is_one_line(tmp_path, cli):
    code, _, err = cli("show", str(tmp_path / "nope.json"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot read spec" in err


@pytest.mark.slow
def test_installed_command_round_trip(tmp_path):
    path = tmp_path / "arch.json"
    subprocess.run(
        [str(PARAWIRE), "generate", "-g", "fb", "-n", "40", "-o", str(path)],
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [str(PARAWIRE), "show", str(path), "--json"], check=True, capture_output=True, text=True
    )
    assert json.loads(done.stdout)["stats"]["vertices"] == 42
