"""A third-party distribution with one plugin of every kind, driven through the command line.

``tests/plugin_pkg`` (``parawire-plugin-pkg``) is installed with pip by scripts/bootstrap
like any plugin package and imports nothing from parawire but ``parawire.plugin``. Each
kind is checked against what it must have done, recomputed here independently.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from parawire.plugin import NoParams
from parawire.registry.manager import get_plugins
from parawire_plugin_pkg import chunks

PKG = Path(__file__).parent / "plugin_pkg"


def parawire(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "parawire", *args], capture_output=True, text=True,
                         cwd=cwd, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def arch_file(tmp_path_factory) -> Path:
    """``generate`` with the package's generator and staging policy, and their params."""
    path = tmp_path_factory.mktemp("pkg") / "arch.json"
    parawire("generate", "-g", "lanes", "-p", "lanes=3", "-p", "cross=0.5", "-n", "14", "-s", "4",
             "--staging", "every", "--staging-param", "every=3", "-o", str(path))
    return path


def test_installed_and_imports_only_the_public_module():
    plugins = get_plugins()
    for kind, name in [("generators", "lanes"), ("staging", "every"), ("partitioners", "chunks"),
                       ("scores", "cutfrac"), ("transports", "counting"), ("engines", "logged")]:
        assert plugins.kinds()[kind].get(name).distribution == "parawire-plugin-pkg"
    source = (PKG / "src" / "parawire_plugin_pkg" / "__init__.py").read_text()
    imported = {
        node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)
    } | {a.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import) for a in node.names}
    assert {m for m in imported if m and m.startswith("parawire")} == {"parawire.plugin"}


def test_generate_uses_its_generator_and_staging(arch_file):
    from parawire.graph.spec import ArchitectureSpec
    from parawire.pipeline.build import build_architecture, stage_flags

    spec = ArchitectureSpec.load(arch_file)
    assert (spec.generator, spec.params, spec.staging, spec.staging_params) == (
        "lanes", {"lanes": 3, "cross": 0.5}, "every", {"every": 3})
    dag = build_architecture(spec).dag
    lane_edges = {(v, v + 3) for v in range(14 - 3)}
    edges = {(u, v) for u, v in dag.graph.edges if u < 14 and v < 14}
    assert lane_edges <= edges
    assert all(v == u + 1 and v % 3 for u, v in edges - lane_edges)  # only cross edges to a neighbour
    assert edges - lane_edges  # cross=0.5 drew some
    flags = stage_flags(spec, dag)
    # base 64, cap 1024: at most 4 doublings along any path, each at a vertex with (v+1) % 3 == 0
    assert flags.any() and all((v + 1) % 3 == 0 for v in np.flatnonzero(flags))


def test_score_uses_its_partitioner_and_score(arch_file):
    from parawire.graph.spec import ArchitectureSpec
    from parawire.pipeline.build import build_architecture
    from parawire.score.hypergraph import hypergraph_of

    out = parawire("score", str(arch_file), "--units", "2", "3", "--eps", "0.1", "--partitioner", "chunks",
                   "--score", "cutfrac", "--score-param", "weighted=true", "--json")
    rows = json.loads(out.stdout)["rows"]
    hg = hypergraph_of(build_architecture(ArchitectureSpec.load(arch_file)))
    assert [(r["units"], r["eps"]) for r in rows] == [(2, 0.1), (3, 0.1)]
    for row in rows:
        parts = np.array(row["partition"])
        assert (row["partitioner"], row["score_name"]) == ("chunks", "cutfrac")
        assert parts.tolist() == chunks(hg, row["units"], 0.1, NoParams()).tolist()
        assert set(parts) == set(range(row["units"]))
        cut = [np.unique(parts[hg.pins(e)]).size > 1 for e in range(hg.num_nets)]
        expected = float(np.dot(cut, hg.net_costs) / hg.net_costs.sum())
        assert row["score"] == pytest.approx(expected, rel=1e-12)
        assert 0 < row["score"] < 1


@pytest.mark.slow
def test_run_local_uses_its_transport_and_engine_with_params_on_worker_processes(arch_file, tmp_path):
    log, engine_log = tmp_path / "log", tmp_path / "engine"
    log.mkdir()
    engine_log.mkdir()
    # run exits 2 if the distributed logits differ from the single-process ones
    out = parawire("run", str(arch_file), "--units", "2", "--local", "--transport", "counting",
                   "--transport-param", f"log_dir={log}", "--partitioner", "chunks", "--runs", "2",
                   "--profile", "edge", "--engine", "logged", "--engine-param", f"log_dir={engine_log}",
                   "--engine-param", "channels_last=true", "--json")
    rows = json.loads(out.stdout)["rows"]
    assert [r["engine"] for r in rows] == ["logged"] * (1 + len({1, os.cpu_count() or 1})) + ["onnxruntime"] * len(
        {1, os.cpu_count() or 1})
    calls = [json.loads(p.read_text()) for p in engine_log.iterdir()]
    assert {c["params"]["channels_last"] for c in calls} == {True}  # the parameters reached every call
    compiled = [c for c in calls if c["call"] == "compile"]
    assert len({c["pid"] for c in compiled}) == 2 and os.getpid() not in {c["pid"] for c in compiled}
    arch_vertices = 14 + 2
    assert sorted(v for c in compiled for v in c["vertices"]) == list(range(arch_vertices))  # each vertex once
    assert {c["pid"] for c in calls if c["call"] == "whole"}.isdisjoint({c["pid"] for c in compiled})
    logs = [json.loads(p.read_text()) for p in log.iterdir()]
    inboxes = [c for c in logs if c["role"] == "inbox"]
    [client] = [c for c in logs if c["role"] == "client"]
    assert len({c["pid"] for c in inboxes}) == 2 and client["pid"] not in {c["pid"] for c in inboxes}
    # every message the coordinator sent arrived in a worker's counted inbox, plus peer traffic
    assert sum(c["received"] for c in inboxes) >= client["sent"] > 0
    assert sum(c["sent"] for c in logs if c["role"] == "link") > 0  # a cut: activations crossed
