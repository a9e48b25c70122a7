"""The third-party path, proven: contrib/parawire-sbm installs with pip and just works."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTRIB = ROOT / "contrib" / "parawire-sbm"
PARAWIRE = Path(sys.executable).with_name("parawire")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def installed():
    """pip-install the contrib distribution into this interpreter unless it is there."""
    if importlib.util.find_spec("parawire_sbm") is None:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", str(CONTRIB)],
            check=True,
            capture_output=True,
        )
        # make this process see it too: run the new editable .pth, drop stale caches
        site.addsitedir(sysconfig.get_paths()["purelib"])
        importlib.invalidate_caches()


def parawire(*argv: str) -> subprocess.CompletedProcess:
    """A fresh process: its plugin manager sees the newly installed entry point."""
    env = {**os.environ, "COLUMNS": "200"}  # wide enough that table rows do not wrap
    return subprocess.run(
        [str(PARAWIRE), *argv], capture_output=True, text=True, env=env, check=False
    )


def test_plugins_lists_sbm_with_its_distribution():
    done = parawire("plugins", "--kind", "generators", "--json")
    assert done.returncode == 0, done.stderr
    row = next(p for p in json.loads(done.stdout)["plugins"] if p["name"] == "sbm")
    assert (row["distribution"], row["parameters"]["blocks"], row["status"]) == ("parawire-sbm", 4, "ok")
    assert row["version"] and row["summary"]


def test_generate_and_show_with_sbm(tmp_path):
    path = tmp_path / "sbm.json"
    done = parawire(
        "generate",
        "--generator",
        "sbm",
        "--nodes",
        "40",
        "--seed",
        "2",
        "--param",
        "blocks=5",
        "--param",
        "p_out=0",
        "-o",
        str(path),
    )
    assert done.returncode == 0, done.stderr
    stats = json.loads(parawire("show", str(path), "--json").stdout)["stats"]
    assert stats["vertices"] == 42
    assert stats["components"] >= 5  # p_out=0: no link between the five groups


def test_bad_sbm_param_names_the_field(tmp_path):
    done = parawire("generate", "-g", "sbm", "-p", "p_in=2", "-o", str(tmp_path / "x.json"))
    assert done.returncode == 2
    assert done.stderr.strip().startswith("error: params[sbm].p_in: got 2;")


def test_a_fresh_manager_in_process_sees_the_plugin():
    from parawire.registry.manager import collect, new_manager

    plugins = collect(*new_manager())
    assert plugins.generators.providers["sbm"] == "parawire-sbm"
