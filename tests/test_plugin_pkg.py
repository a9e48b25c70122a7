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
from parawire.registry.manager import get_plugins
from parawire_plugin_pkg import ChunksParams, chunks

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
                   "--partitioner-param", "reverse=true", "--score", "cutfrac", "--score-param", "weighted=true",
                   "--json")
    rows = json.loads(out.stdout)["rows"]
    hg = hypergraph_of(build_architecture(ArchitectureSpec.load(arch_file)))
    assert [(r["units"], r["eps"]) for r in rows] == [(2, 0.1), (3, 0.1)]
    for row in rows:
        parts = np.array(row["partition"])
        assert (row["partitioner"], row["score_name"]) == ("chunks", "cutfrac")
        assert parts.tolist() == chunks(hg, row["units"], 0.1, ChunksParams(reverse=True)).tolist()
        assert parts.tolist() != chunks(hg, row["units"], 0.1, ChunksParams()).tolist()  # the parameter counted
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


def start_worker(*args: str) -> tuple[subprocess.Popen, str]:
    """``parawire worker`` on a free loopback port, started apart from any ``run``; its address."""
    proc = subprocess.Popen([sys.executable, "-m", "parawire", "worker", "--bind", "tcp://127.0.0.1:*", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("parawire worker listening on "):
        proc.kill()
        pytest.fail(f"worker did not start: {line}{proc.stderr.read()}")
    return proc, line.split()[-1]


def stop_worker(proc: subprocess.Popen) -> str:
    """Stop it as LocalWorkers do (SIGTERM: a normal stop) and return what it wrote on stderr."""
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


@pytest.mark.slow
def test_row9_a_message_its_transport_refuses_is_one_drop_naming_it_and_the_worker_keeps_answering():
    """The package's ``picky`` transport raises parawire.plugin.ProtocolError from its inbox
    for messages starting with ``refuse``: the worker drops that one message with one line
    naming the plugin and its distribution, and answers the next on the same connection."""
    import zmq
    from parawire.executor.protocol import Kind, decode, json_frames

    proc, address = start_worker("--transport", "picky", "--transport-param", "refuse=XX")
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    try:
        sock.connect(address)
        sock.send_multipart([b"XX not a parawire message"])
        sock.send_multipart(json_frames(Kind.PING))  # same connection: it arrives after the refused one
        assert sock.poll(60_000), "the worker stopped answering"
        assert decode(sock.recv_multipart()).kind is Kind.PONG
    finally:
        sock.close(linger=0)
        ctx.term()
        err = stop_worker(proc)
    assert "Traceback" not in err
    [line] = [line for line in err.splitlines() if "dropped a message" in line]
    assert line.endswith("dropped a message: transport 'picky' (parawire-plugin-pkg):"
                         " first frame starts with 'XX'; refused")


@pytest.mark.slow
def test_engine_params_travel_in_the_deploy_to_a_worker_started_elsewhere(arch_file, tmp_path):
    """``run --endpoint`` with ``--engine-param``: the worker was started without any, and
    compiles with the run's (they come in the DEPLOY, not on the worker's command line)."""
    engine_log = tmp_path / "engine"
    engine_log.mkdir()
    proc, address = start_worker()
    try:
        out = parawire("run", str(arch_file), "--units", "1", "--endpoint", address, "--runs", "1",
                       "--profile", "edge", "--engine", "logged", "--engine-param", f"log_dir={engine_log}",
                       "--engine-param", "channels_last=true", "--baseline-engine", "logged", "--json")
    finally:
        err = stop_worker(proc)
    assert "Traceback" not in err
    assert {r["engine"] for r in json.loads(out.stdout)["rows"]} == {"logged"}
    calls = [json.loads(p.read_text()) for p in engine_log.iterdir()]
    [compiled] = [c for c in calls if c["call"] == "compile"]
    assert compiled["pid"] == proc.pid
    assert compiled["params"] == {"log_dir": str(engine_log), "channels_last": True}
    assert len(compiled["vertices"]) == 14 + 2  # one unit: every vertex


def test_a_worker_validates_the_engine_params_a_deployment_carries(arch_file, tmp_path):
    """A DEPLOY from any coordinator (not only parawire's, which validates first) is checked
    with the engine's own model on the worker: one line naming the field, nothing built."""
    from parawire.errors import SpecError
    from parawire.executor.deployment import check_deployment
    from parawire.executor.plan import plan_for
    from parawire.executor.transport import get_transport
    from parawire.executor.worker import Worker
    from parawire.graph.spec import ArchitectureSpec
    from parawire.pipeline.build import build_architecture

    arch = build_architecture(ArchitectureSpec.load(arch_file))
    plan = plan_for(arch, np.zeros(arch.dag.nodes + 2, dtype=np.int64), units=1)
    body = {"spec": arch.spec.model_dump(mode="json"), "plan": plan.model_dump(mode="json"), "unit": 0,
            "engine": "logged", "engine_params": {"log_dir": str(tmp_path), "channels_last": "maybe"}}
    worker = Worker(get_transport("zmq"), "tcp://127.0.0.1:*", engine_params={"log_dir": "/nonexistent"})
    try:
        with pytest.raises(SpecError, match=r"^engine_params\[logged\]\.channels_last: got 'maybe'; "):
            worker.build_blocks(check_deployment(body), None)
        assert not list(tmp_path.iterdir())  # nothing compiled
        blocks = worker.build_blocks(check_deployment({**body, "engine_params": {"log_dir": str(tmp_path)}}), None)
    finally:
        worker.inbox.close()
    assert set(blocks) == set(range(14 + 2))
    [logged] = [json.loads(p.read_text()) for p in tmp_path.iterdir()]
    assert logged["params"]["log_dir"] == str(tmp_path)  # the deployment's, not the worker's own
