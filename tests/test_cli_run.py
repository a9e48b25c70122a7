"""``parawire run``: says what it does before the workers are up, honours --timeout,
and prints rows a script can read with --json."""

from __future__ import annotations

import json
import os

import pytest
from parawire.cli import main
from parawire.errors import ParawireError

SPEC = {"generator": "dp", "nodes": 6, "seed": 1, "base_channels": 4, "channel_cap": 8,
        "input_shape": [3, 8, 8]}


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(SPEC))
    return path


class Stop(ParawireError):
    pass


def test_progress_is_printed_before_the_workers_finish_starting(spec_file, capsys, monkeypatch):
    """Whatever the workers take to start, the user has been told what is happening."""
    import parawire.executor.local as local

    seen = {}

    def starting(n, transport, endpoint_kind, **options):
        seen["stderr"] = capsys.readouterr().err
        seen["options"] = options
        raise Stop("stopped in the test")

    monkeypatch.setattr(local, "LocalWorkers", starting)
    monkeypatch.setattr("parawire.cli.startup.load_per_core", lambda: 4.0)
    with pytest.raises(SystemExit):
        main(["run", str(spec_file), "--local", "--units", "2", "--timeout", "3"])
    assert "building and partitioning dp, 6 vertices, 2 units" in seen["stderr"]
    assert "starting 2 local worker processes…" in seen["stderr"]
    assert seen["options"]["startup_timeout"] == 12.0  # --timeout × the load per core bounds the start
    assert "error: stopped in the test" in capsys.readouterr().err


def test_timeout_bounds_the_deployment(spec_file, capsys, monkeypatch):
    from parawire.executor.coordinator import Cluster

    asked = []

    def deploy(self, spec, plan, weights=None, timeout=None, engine=None, engine_params=None):
        asked.append(timeout)
        raise Stop("stopped in the test")

    monkeypatch.setattr(Cluster, "deploy", deploy)
    with pytest.raises(SystemExit):
        main(["run", str(spec_file), "--local", "--transport", "inproc", "--timeout", "3"])
    assert asked == [3.0]


def test_json_rows_are_scriptable(spec_file, capsys):
    main(["run", str(spec_file), "--local", "--transport", "inproc", "--units", "2", "--runs", "2", "--json",
          "--baseline-engine", "onnxruntime", "--baseline-engine", "torch"])
    out, err = capsys.readouterr()
    result = json.loads(out)  # stdout is the JSON document alone; progress went to stderr
    rows = result["rows"]
    assert [(r["run"], r["units"], r["engine"]) for r in rows][0] == ("2 workers (inproc)", 2, "onnxruntime")
    threads = sorted({1, os.cpu_count() or 1})
    assert [(r["engine"], r["run"], r["units"]) for r in rows[1:]] == [
        (e, f"1 process, {t} thread{'s' if t > 1 else ''}", 1) for e in ("onnxruntime", "torch") for t in threads]
    for row in rows:
        assert {"run", "units", "engine", "median_ms", "p90_ms"} <= set(row)
        assert 0 < row["median_ms"] <= row["p90_ms"]
    assert max(r["speedup"] for r in rows[1:]) == 1.0  # against the best single process
    assert result["predicted_ms"] > 0
    assert f"timing {len(rows)} configurations, interleaved: {2 * len(rows)}/{2 * len(rows)} runs" in err


@pytest.mark.slow
def test_run_reaches_a_curve_worker_with_the_keys(spec_file, tmp_path, capsys):
    import subprocess
    import sys

    from parawire.executor.local import READY_PREFIX

    main(["keys", str(tmp_path / "k")])
    keys = tmp_path / "k"
    worker = subprocess.Popen(
        [sys.executable, "-m", "parawire", "worker", "--bind", "tcp://127.0.0.1:*",
         "--curve-secret", str(keys / "server.key_secret"), "--curve-clients", str(keys / "authorized"),
         "--exit-with-parent"], stdout=subprocess.PIPE, text=True)
    try:
        line = worker.stdout.readline()
        assert line.startswith(READY_PREFIX), line
        endpoint = line[len(READY_PREFIX):].strip()
        capsys.readouterr()
        main(["run", str(spec_file), "--units", "1", "--endpoint", endpoint, "--runs", "2", "--json",
              "--curve-secret", str(keys / "client.key_secret"), "--curve-server", str(keys / "server.key")])
        rows = json.loads(capsys.readouterr().out)["rows"]
        assert rows[0]["run"] == "1 worker (zmq)" and rows[0]["median_ms"] > 0
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_run_deploys_to_owner_secret_workers_only_with_the_secret(spec_file, tmp_path, capsys):
    import subprocess
    import sys

    from parawire.executor.local import READY_PREFIX

    main(["keys", str(tmp_path / "k")])
    secret = tmp_path / "k" / "owner.secret"
    worker = subprocess.Popen(
        [sys.executable, "-m", "parawire", "worker", "--bind", "tcp://127.0.0.1:*", "--owner-secret", str(secret),
         "--exit-with-parent"], stdout=subprocess.PIPE, text=True)
    try:
        line = worker.stdout.readline()
        assert line.startswith(READY_PREFIX), line
        command = ["run", str(spec_file), "--units", "1", "--endpoint", line[len(READY_PREFIX):].strip(),
                   "--runs", "2", "--json", "--timeout", "10"]
        capsys.readouterr()
        with pytest.raises(SystemExit) as refused:
            main(command)
        assert refused.value.code == 2
        assert "takes deployments only from its owner" in capsys.readouterr().err
        main([*command, "--owner-secret", str(secret)])
        rows = json.loads(capsys.readouterr().out)["rows"]
        assert rows[0]["run"] == "1 worker (zmq)" and rows[0]["median_ms"] > 0
    finally:
        worker.terminate()
        worker.wait(timeout=30)


@pytest.mark.parametrize(("options", "expected"), [
    (["--local"], "--owner-secret is for --endpoint workers started with it; --local ones have none"),
    (["--units", "1", "--endpoint", "tcp://127.0.0.1:1"], "readable or owned by someone else; chmod 600 it"),
])
def test_run_refuses_an_owner_secret_it_cannot_use_in_one_line(spec_file, tmp_path, capsys, options, expected):
    secret = tmp_path / "owner.secret"
    secret.write_text("00" * 32)
    secret.chmod(0o644)
    with pytest.raises(SystemExit) as refused:
        main(["run", str(spec_file), *options, "--owner-secret", str(secret)])
    err = capsys.readouterr().err
    assert refused.value.code == 2 and expected in err and "Traceback" not in err


def test_run_with_the_torch_engine_names_the_best_single_process(spec_file, capsys):
    main(["run", str(spec_file), "--local", "--transport", "inproc", "--runs", "1", "--profile", "edge",
          "--engine", "torch"])
    out = capsys.readouterr().out
    assert "best single process:" in out and "torch" in out


def test_run_refuses_an_unknown_engine_naming_the_known_ones(spec_file, capsys):
    with pytest.raises(SystemExit):
        main(["run", str(spec_file), "--local", "--engine", "onnx"])
    err = capsys.readouterr().err
    assert "unknown engine 'onnx'; known: " in err and "onnxruntime, torch" in err


def test_schedule_placement_runs_the_plan_the_model_finds_fastest(spec_file, capsys):
    # On the shared `edge` profile (12.5 MB/s bus) messages cost more than this tiny
    # network's compute: the schedule keeps it on one of the 3 units, and the run
    # still returns the single-process output.
    main(["run", str(spec_file), "--local", "--transport", "inproc", "--units", "3", "--runs", "1",
          "--profile", "edge", "--placement", "schedule", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["placement"] == "schedule"
    assert result["bytes_per_inference"] == result["cut_bytes"] == 0
    assert result["max_abs_diff"] <= 1e-4


def test_rows_are_timed_in_interleaved_rounds():
    """Every round times every configuration in turn: a load that comes and goes weighs
    on all rows alike instead of flipping the speed-up."""
    from parawire.cli.progress import Progress
    from parawire.cli.run import ROUNDS, Timed, interleaved

    calls: list[str] = []
    configs = [Timed(name, 1, None, (lambda n: lambda: calls.append(n))(name)) for name in "ab"]
    with Progress() as progress:
        rows = interleaved(progress, configs, 2 * ROUNDS)
    timed = calls[2 * 3:]  # after three warm-up calls each
    assert timed == ["a", "a", "b", "b"] * ROUNDS
    assert [len(r.times) for r in rows] == [2 * ROUNDS] * 2


def test_a_worker_stopped_while_it_starts_says_nothing(tmp_path):
    """`run --local` gives up on workers still importing torch on a busy machine by
    SIGTERM; each of them printing `terminated` was noise (issue 26)."""
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "parawire", "worker", "--bind", f"ipc://{tmp_path}/w"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)  # mid-start (the worker imports torch), or already serving: both stop quietly
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert "terminated" not in err and proc.returncode in (0, -signal.SIGTERM)


# -- tiles from the command line (issue 24) and codecs on them (issue 23) -------------------

TILED = {"generator": "chain", "nodes": 6, "seed": 0, "base_channels": 32, "input_shape": [3, 64, 64],
         "staging": "uniform"}
"""A chain of 3×3 blocks at 64 px: on a slow device (5e7 MAC/s, 1 MB/s links) tiling the
whole network on 2 units (the output reduced to partial sums) beats one device and the
partition (tests/test_tiles_executor.py)."""


@pytest.fixture
def tiled_run(tmp_path, monkeypatch, capsys):
    from parawire.calibration import local
    from parawire.latency.profiles import EDGE

    monkeypatch.setitem(local.SHIPPED, "edge", EDGE.model_copy(update={"flops_per_s": 5e7,
                                                                       "bandwidth_bytes_per_s": 1e6}))
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(TILED))

    def run(*options):
        main(["run", str(path), "--local", "--transport", "inproc", "--units", "2", "--runs", "1",
              "--profile", "edge", "--check-inputs", "2", "--json", *options])
        return json.loads(capsys.readouterr().out)

    return run


@pytest.mark.parametrize("placement", ["hybrid", "auto"])
def test_a_tiled_run_reports_its_grid_and_threshold_and_moves_its_lambda(tiled_run, placement):
    result = tiled_run("--placement", placement)
    assert result["placement"] == placement
    tiling = result["tiling"]
    assert tiling["grid"] in ([1, 2], [2, 1]) and tiling["threshold"] == 64
    assert tiling["tiled_vertices"] >= 1 and tiling["gathered_maps"] >= 1
    assert result["max_abs_diff"] <= 1e-5 and result["codec"] == "raw"  # logits of this network: |·| < 0.2
    assert result["bytes_per_inference"] == result["cut_bytes"] > 0  # pieces, messages and the crops' halos


def test_a_codec_on_a_tiled_run_encodes_the_gather(tiled_run, monkeypatch):
    from parawire.calibration import codecs

    # codec costs are calibrated on this machine, in MACs of its `local` rate: free here, so
    # that fp16 cannot make the planner choose another tiling on one machine and not another
    monkeypatch.setattr(codecs, "codec_cost", lambda choice, engine=None, refresh=False: codecs.FREE)
    raw = tiled_run("--placement", "hybrid")
    half = tiled_run("--placement", "hybrid", "--codec", "fp16")
    assert half["tiling"] == raw["tiling"] and half["codec"] == "fp16"
    assert half["bytes_per_inference"] == half["cut_bytes"] < raw["cut_bytes"]
    assert half["max_abs_diff"] <= 2e-3 and half["accuracy"]["top1_agreement"] == 1.0
    # a lossy run names a blind check (one class on every input); an exact one never does
    assert (half["accuracy"]["classes"] == 1) == any("one top-1 class" in n for n in half["notes"])
    assert not any("one top-1 class" in n for n in raw["notes"])


def test_codec_auto_chooses_among_tiled_plans_and_checks_them(tiled_run):
    result = tiled_run("--placement", "hybrid", "--codec", "auto", "--max-top1-change", "1")
    check = result["codec_check"]
    assert check and all(entry["tiled"] for entry in check) and check[-1]["accepted"]
    assert result["tiling"] is not None and result["codec"] == check[-1]["codecs"]
    # every vertex is tiled, so the gather is one partial sum per tile: no lossy level is
    # faster, and the exact one needs no check (a lossy tiled plan's replay:
    # tests/test_tiles_executor.py::test_codec_auto_replays_a_coded_tiling_as_the_workers_compute_it)
    assert result["tiling"]["tiled_vertices"] == TILED["nodes"] + 2 and result["tiling"]["gathered_maps"] == 1
    assert [entry["level"] for entry in check] == ["exact"] and result["codec"] == "raw"
    assert result["bytes_per_inference"] == result["cut_bytes"]
