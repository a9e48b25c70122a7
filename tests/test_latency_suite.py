"""Latency suites: the parawire_cluster / parawire_single fixtures, measure()'s benchmark
conventions, the example suite run as a user runs it, and clean-up whatever a test does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import psutil
import pytest
import torch
from parawire.errors import ParawireError, PluginError, SpecError
from parawire.executor.plan import plan_for
from parawire.graph.spec import ArchitectureSpec
from parawire.latency.profiles import EDGE
from parawire.pipeline.placement import partition_architecture
from parawire.registry.records import DEFAULT_ENGINE
from parawire.testing.suite import (
    SingleProcess,
    benchmark_info,
    deploy_local,
    measure,
    suite_group,
)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "latency-suite"
SPEC = ArchitectureSpec(generator="dp", nodes=10, seed=4, input_shape=(3, 16, 16), base_channels=8)


def leftovers(tmp: Path) -> list[str]:
    """What parawire left in ``tmp``: ONNX Runtime's telemetry library writes a ``.ses``
    session-id file into TMPDIR when it is imported (not ours to remove, not a socket)."""
    return sorted(p.name for p in tmp.iterdir() if p.name != ".ses")


class Recorder:
    """What measure() uses of pytest-benchmark's fixture: group, extra_info, a call."""

    def __init__(self) -> None:
        self.group = None
        self.extra_info: dict = {}
        self.calls = 0

    def __call__(self, fn, *args):
        self.calls += 1
        return fn(*args)


def worker_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "worker" in " ".join(p.cmdline())]


def test_cluster_over_worker_processes_equals_one_process_and_close_stops_it():
    with deploy_local(SPEC, units=2, profile="edge") as cluster:
        x = torch.randn(3, *SPEC.input_shape, generator=torch.Generator().manual_seed(9))
        assert torch.allclose(cluster.infer(x), cluster.reference(x), rtol=1e-4, atol=1e-5)
        want = plan_for(cluster.arch, partition_architecture(cluster.arch, 2), EDGE, units=2)
        assert cluster.plan == want and cluster.units == 2 and cluster.plan.cut_bytes > 0
        assert cluster.predicted_ms == pytest.approx(want.predicted_latency_s * 1e3)
        # deploy_local's check ran one inference (the warm-up, batch 1), this test one of batch 3
        stats = cluster.stats()
        assert stats.inferences == 2 and stats.peer_bytes == (1 + 3) * cluster.plan.cut_bytes
        procs = [psutil.Process(p.pid) for p in cluster.workers.processes]
        sockets = Path(cluster.workers._dir)
        assert sorted(f.name for f in sockets.iterdir()) == ["unit0", "unit1"]
    assert not sockets.exists()
    assert all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in procs)


@pytest.mark.parametrize("units", [1, 3])
def test_inproc_cluster_equals_one_process_and_restores_threads(units):
    before = torch.get_num_threads()
    with deploy_local(SPEC, units=units, transport="inproc", profile=None) as cluster:
        x = cluster.example_input(batch=2)
        assert torch.allclose(cluster.infer(x), cluster.reference(x), rtol=1e-4, atol=1e-5)
        assert cluster.predicted_ms is None and cluster.units == units
        assert cluster.info()["endpoint_kind"] is None
        assert cluster.info()["bytes_per_inference"] == (0 if units == 1 else cluster.plan.cut_bytes)
    assert torch.get_num_threads() == before
    assert all(not t.is_alive() for t in cluster.workers.threads)


@pytest.mark.parametrize("engine", ["torch", "onnxruntime"])
def test_engines_compute_the_reference_in_one_process_and_on_workers(engine, parawire_single):
    x = torch.randn(2, *SPEC.input_shape, generator=torch.Generator().manual_seed(3))
    single = parawire_single(SPEC, engine=engine, profile=None)
    with deploy_local(SPEC, units=2, transport="inproc", engine=engine, profile=None) as cluster:
        want = cluster.reference(x)
        assert torch.allclose(cluster.infer(x), want, rtol=1e-4, atol=1e-5)
        assert torch.allclose(single.infer(x), want, rtol=1e-4, atol=1e-5)
        assert (cluster.engine, single.engine, cluster.reference.engine) == (engine, engine, "torch")


def test_engine_none_is_the_default_engine(parawire_single):
    assert parawire_single(SPEC, profile=None).engine == DEFAULT_ENGINE


def test_a_failed_check_stops_what_was_started(monkeypatch):
    monkeypatch.setattr(SingleProcess, "infer", lambda self, x: torch.zeros(1, self.spec.classes))
    before = set(threading.enumerate())
    with pytest.raises(ParawireError, match="distributed output differs from the single-process one"):
        deploy_local(SPEC, units=2, transport="inproc", profile=None)
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"engine": "tensorflow"}, PluginError, r"tensorflow.*onnxruntime"),
        ({"units": 0}, ParawireError, r"units: got 0; use a whole number ≥ 1"),
        ({"units": 1.5}, ParawireError, r"units: got 1.5"),
        ({"endpoint_kind": "udp"}, ParawireError, r"endpoint_kind: got 'udp'; use one of ipc, tcp"),
        ({"transport": "carrier-pigeon"}, PluginError, r"carrier-pigeon.*inproc"),
        ({"partitioner": "nope"}, PluginError, r"nope"),
        ({"threads": 0}, ParawireError, r"threads: got 0"),
        ({"profile": "moon"}, ParawireError, r"profile: got 'moon'"),
        ({"transport_params": {"copy_below": -1}}, SpecError, r"transport_params\[zmq\]\.copy_below: got -1"),
    ],
)
def test_bad_arguments_fail_in_one_line_before_any_worker_starts(kwargs, error, message):
    before = {p.pid for p in worker_children()}
    with pytest.raises(error, match=message):
        deploy_local(SPEC, **kwargs)
    assert {p.pid for p in worker_children()} == before


def test_specs_come_as_objects_mappings_or_files(tmp_path, parawire_single):
    path = SPEC.save(tmp_path / "arch.toml")
    x = torch.randn(1, *SPEC.input_shape)
    outs = [parawire_single(s).infer(x) for s in (SPEC, SPEC.model_dump(mode="json"), path, str(path))]
    assert all(torch.equal(o, outs[0]) for o in outs)
    with pytest.raises(SpecError, match="nodes: got 1"):
        parawire_single({"nodes": 1})
    with pytest.raises(ParawireError, match="spec: got a int; pass an ArchitectureSpec"):
        parawire_single(3)
    with pytest.raises(PluginError, match="tensorflow.*onnxruntime"):
        parawire_single(SPEC, engine="tensorflow")


def test_single_process_sets_threads_and_the_fixture_restores_them(parawire_single):
    before = torch.get_num_threads()
    single = parawire_single(SPEC, threads=before + 1)
    single.infer(single.example_input())
    assert torch.get_num_threads() == before + 1
    assert single.predicted_ms is None  # the model's profiles are per thread
    one = parawire_single(SPEC, threads=1, profile="edge")
    arch = one.arch
    want = plan_for(arch, [0] * arch.dag.graph.number_of_nodes(), EDGE, units=1).predicted_latency_s
    assert one.predicted_ms == pytest.approx(want * 1e3)
    with SingleProcess(SPEC, threads=before + 2, profile=None) as inner:
        inner.infer(inner.example_input())
    assert torch.get_num_threads() == before + 1


def test_group_names_the_architecture_and_only_fields_set_away_from_defaults():
    assert suite_group(ArchitectureSpec()) == "dp 40 nodes seed 0 3x32x32"
    spec = ArchitectureSpec(generator="er", params={"p": 0.3}, nodes=12, seed=5, input_shape=(1, 8, 8),
                            staging="greedy", base_channels=16)
    assert suite_group(spec) == "er(p=0.3) 12 nodes seed 5 1x8x8 staging=greedy base_channels=16"
    assert suite_group(spec) != suite_group(spec.model_copy(update={"base_channels": 8}))


def test_measure_fills_group_and_extra_info_for_both_rows():
    with deploy_local(SPEC, units=2, transport="inproc", profile="edge") as cluster, \
            SingleProcess(SPEC, threads=1, profile="edge") as single:
        rows = {}
        for target in (cluster, single):
            bench = Recorder()
            x = target.example_input()
            out = measure(bench, target, x)
            assert bench.calls == 1 and torch.allclose(out, single.infer(x), rtol=1e-4, atol=1e-5)
            assert bench.extra_info == benchmark_info(target, x) | {
                "bytes_per_inference": bench.extra_info["bytes_per_inference"]}
            rows[target.mode] = bench
    assert rows["distributed"].group == rows["single-process"].group == suite_group(SPEC)
    dist, one = rows["distributed"].extra_info, rows["single-process"].extra_info
    assert dist.keys() == one.keys()
    assert (dist["units"], dist["transport"], dist["engine"], dist["partitioner"]) == (
        2, "inproc", DEFAULT_ENGINE, "multilevel")
    assert dist["bytes_per_inference"] == cluster.plan.cut_bytes > 0  # measured, one inference
    assert dist["predicted_ms"] == pytest.approx(cluster.plan.predicted_latency_s * 1e3)
    assert (one["units"], one["transport"], one["bytes_per_inference"], one["threads"]) == (1, None, 0, 1)
    assert one["predicted_ms"] > 0 and dist["input_shape"] == one["input_shape"] == [1, 3, 16, 16]
    assert (dist["generator"], dist["nodes"], dist["seed"]) == ("dp", 10, 4)


# -- as a user runs it: pytest in a subprocess --------------------------------------


def run_pytest(args: list[str], cwd: Path, tmpdir: Path, **env: str) -> subprocess.CompletedProcess:
    """pytest with this interpreter and nothing from this repository on the path; ipc
    socket directories go to ``tmpdir`` (tempfile honours TMPDIR)."""
    tmpdir.mkdir(exist_ok=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd, env={**clean, "TMPDIR": str(tmpdir), **env}, capture_output=True, text=True, timeout=500,
    )


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_example_suite_writes_every_benchmark_with_its_extra_info(tmp_path):
    out = tmp_path / "bench.json"
    result = run_pytest(
        [str(EXAMPLE), "--benchmark-only", f"--benchmark-json={out}", "--benchmark-min-rounds=1",
         "--benchmark-max-time=0.01", "--benchmark-warmup=off", "-q"],
        cwd=tmp_path, tmpdir=tmp_path / "tmp",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = {b["name"]: b for b in json.loads(out.read_text())["benchmarks"]}
    names = {"dp", "er", "ws"}
    engines = ("torch", "onnxruntime")
    assert rows.keys() == {f"test_distributed[{a}-{u}units]" for a in names for u in (1, 2)} | {
        f"test_single_process[{a}-{e}-{t}]" for a in names for e in engines for t in ("1thread", "allthreads")}
    keys = {"mode", "generator", "nodes", "seed", "input_shape", "units", "engine", "transport",
            "predicted_ms", "bytes_per_inference", "threads", "partitioner", "endpoint_kind", "codec"}
    for arch in names:
        mine = {n: r for n, r in rows.items() if f"[{arch}-" in n}
        assert len({r["group"] for r in mine.values()}) == 1  # distributed beside single-process
        for name, row in mine.items():
            info = row["extra_info"]
            assert info.keys() == keys, name
            assert (info["generator"], info["nodes"], info["input_shape"]) == (arch, 16, [1, 3, 32, 32])
            assert info["engine"] == (name.split("-")[1] if "single" in name else DEFAULT_ENGINE)
            assert row["stats"]["rounds"] >= 1
        two, one = mine[f"test_distributed[{arch}-2units]"]["extra_info"], mine[f"test_distributed[{arch}-1units]"]["extra_info"]
        assert (two["units"], two["transport"], two["endpoint_kind"]) == (2, "zmq", "ipc")
        assert two["bytes_per_inference"] > 0 and one["bytes_per_inference"] == 0
        assert two["predicted_ms"] > 0 and one["predicted_ms"] > 0
        assert mine[f"test_single_process[{arch}-torch-allthreads]"]["extra_info"]["threads"] == (os.cpu_count() or 1)
    assert leftovers(tmp_path / "tmp") == []


INNER_FAILURES = '''
import os
from pathlib import Path

import pytest
from parawire.graph.spec import ArchitectureSpec

SPEC = ArchitectureSpec(generator="dp", nodes=6, input_shape=(3, 8, 8), base_channels=4)


def started(cluster):
    with Path(os.environ["PIDS"]).open("a") as f:
        f.writelines(f"{p.pid}\\n" for p in cluster.workers.processes)


def test_raises_after_deployment(parawire_cluster):
    cluster = parawire_cluster(SPEC, units=2, profile=None)
    started(cluster)
    cluster.infer(cluster.example_input())
    raise RuntimeError("the test body failed after deployment")


def test_fails_with_two_clusters_and_a_dead_worker(parawire_cluster, parawire_single):
    started(parawire_cluster(SPEC, units=1, endpoint_kind="tcp", profile=None))
    cluster = parawire_cluster(SPEC, units=1, profile=None)
    started(cluster)
    parawire_single(SPEC, threads=2)
    cluster.workers.kill(0)
    cluster.infer(cluster.example_input())  # raises: unit 0 is gone


def test_interrupted(parawire_cluster):
    started(parawire_cluster(SPEC, units=1, profile=None))
    raise KeyboardInterrupt
'''


@pytest.mark.slow
def test_failing_tests_leave_no_worker_process_and_no_socket_file(tmp_path):
    (tmp_path / "test_inner.py").write_text(INNER_FAILURES)
    pids = tmp_path / "pids"
    result = run_pytest(["test_inner.py", "-q"], cwd=tmp_path, tmpdir=tmp_path / "tmp", PIDS=str(pids))
    assert result.returncode == 2, result.stdout[-3000:]  # interrupted
    assert "2 failed" in result.stdout and "KeyboardInterrupt" in result.stdout
    assert "RuntimeError: the test body failed after deployment" in result.stdout
    assert "unit 0 (" in result.stdout  # the dead worker was named, not waited for forever
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 5
    for pid in started:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, pid
    assert leftovers(tmp_path / "tmp") == []


@pytest.mark.slow
def test_a_user_suite_outside_the_repository_needs_only_parawire_installed(tmp_path):
    (tmp_path / "test_mine.py").write_text(textwrap.dedent('''
        from parawire.testing.suite import measure

        SPEC = {"generator": "ws", "nodes": 8, "seed": 2, "input_shape": [3, 8, 8], "base_channels": 4}

        def test_mine(benchmark, parawire_cluster):
            cluster = parawire_cluster(SPEC, units=2)
            measure(benchmark, cluster)
            assert benchmark.extra_info["units"] == 2
    '''))
    out = tmp_path / "bench.json"
    result = run_pytest(["test_mine.py", "--benchmark-min-rounds=1", "--benchmark-max-time=0.01",
                         f"--benchmark-json={out}", "-q"], cwd=tmp_path, tmpdir=tmp_path / "tmp")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [row] = json.loads(out.read_text())["benchmarks"]
    assert row["name"] == "test_mine" and row["group"] == "ws 8 nodes seed 2 3x8x8 base_channels=4"
    assert row["extra_info"]["bytes_per_inference"] > 0 and row["extra_info"]["predicted_ms"] > 0
    assert leftovers(tmp_path / "tmp") == []


@pytest.mark.slow
@pytest.mark.xdist_group("testbed")  # see tests/test_testbed.py
def test_testbed_devices_compute_the_single_process_output(parawire_testbed, benchmark):
    cluster = parawire_testbed(SPEC, units=2, preset="rpi4")  # checked against one process on deployment
    x = cluster.example_input(batch=2)
    assert torch.allclose(cluster.infer(x), cluster.reference(x), rtol=1e-4, atol=1e-5)
    measure(benchmark, cluster)
    assert benchmark.extra_info["endpoint_kind"] == "tcp rpi4 testbed" and benchmark.extra_info["predicted_ms"] > 0
    assert benchmark.extra_info["bytes_per_inference"] == cluster.plan.cut_bytes
