"""The package is a stack of layers (docs/architecture.md): imports only run down and no
module takes part in an import circle.

The contracts live in pyproject.toml (``[tool.importlinter]``). An installed parawire
holds ``core/`` as ``parawire`` and ``plugins/`` as ``parawire.plugins`` from two folders,
which grimp cannot walk as one package, so each test lays both out as one plain
package in a temporary folder (the layout a wheel has) and checks that copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _tree(tmp_path: Path) -> Path:
    """``core/`` as ``parawire/`` with ``plugins/`` inside it, plus the contracts."""
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "core", tmp_path / "parawire", ignore=ignore)
    shutil.copytree(ROOT / "plugins", tmp_path / "parawire" / "plugins", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(tree: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH first: grimp then finds the copy, not the editable install.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=120)


def test_every_contract_is_kept_by_core_and_plugins(tmp_path):
    result = _lint(_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Analyzed" in result.stdout and "0 broken" in result.stdout
    assert "layers: imports only run down KEPT" in result.stdout


@pytest.mark.parametrize(("module", "upward"), [
    ("graph/dag.py", "parawire.registry.manager"),     # a low layer looking plugins up
    ("registry/records.py", "parawire.pipeline.build"),  # the circle issue 20 broke
    ("network/nn.py", "parawire.cli"),
])
def test_an_upward_import_breaks_the_layers_contract_and_is_named(tmp_path, module, upward):
    tree = _tree(tmp_path)
    path = tree / "parawire" / module
    path.write_text(path.read_text() + f"\nimport {upward}  # deliberately upward\n")
    result = _lint(tree)
    assert result.returncode == 1
    assert "layers: imports only run down BROKEN" in result.stdout
    importer = "parawire." + module.removesuffix(".py").replace("/", ".")
    assert f"{importer} -> {upward}" in result.stdout


def test_the_testbed_importing_training_breaks_their_independence(tmp_path):
    tree = _tree(tmp_path)
    path = tree / "parawire" / "testbed" / "presets.py"
    path.write_text(path.read_text() + "\nimport parawire.training.schedule\n")
    result = _lint(tree)
    assert result.returncode == 1
    assert "the testbed knows no training, and training no testbed BROKEN" in result.stdout


def _circles(tree: Path) -> list[set[str]]:
    code = (
        "import grimp, networkx as nx, json\n"
        "g = grimp.build_graph('parawire')\n"
        "G = nx.DiGraph((m, i) for m in g.modules for i in g.find_modules_directly_imported_by(m))\n"
        "print(len(g.modules)); print(json.dumps([sorted(c) for c in nx.strongly_connected_components(G) if len(c) > 1]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout.splitlines()
    assert int(out[0]) > 100  # the whole package was read, plugins included
    return [set(c) for c in json.loads(out[1])]


def test_no_module_takes_part_in_an_import_circle(tmp_path):
    assert _circles(_tree(tmp_path)) == []


def test_a_function_level_import_that_closes_a_circle_is_found(tmp_path):
    tree = _tree(tmp_path)
    path = tree / "parawire" / "graph" / "spec.py"
    path.write_text(path.read_text() + "\n\ndef _late():\n    from parawire.graph import stats  # noqa\n")
    stats = tree / "parawire" / "graph" / "stats.py"
    stats.write_text(stats.read_text() + "\nimport parawire.graph.spec\n")
    assert {"parawire.graph.spec", "parawire.graph.stats"} in _circles(tree)
