"""The study grid: resumable after an interrupt or a kill, same rows on Dask, clear errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from parawire.errors import PluginError, SpecError
from parawire.study.config import StudyConfig
from parawire.study.runner import run_study
from parawire.study.sample import COLUMNS
from parawire.study.store import ResultStore, read_rows

TINY = dict(generators=("dp", "er"), samples=4, nodes=(12,), units=(2, 3), eps=(0.1,),
            input_shape=(3, 16, 16), classes=10, batch=1)


def test_rows_cover_every_sample_and_unit_count(tmp_path):
    config = StudyConfig(**TINY)
    rows = read_rows(run_study(config, tmp_path / "s.csv", workers=1).path)
    assert len(rows) == 2 * 4 * 2
    assert {(r["generator"], int(r["sample"]), int(r["units"])) for r in rows} == {
        (g, s, u) for g in ("dp", "er") for s in range(4) for u in (2, 3)
    }
    assert all(float(r["latency_heft_s"]) <= float(r["serial_s"]) for r in rows)
    assert all(float(r["lower_bound_s"]) <= float(r["latency_s"]) for r in rows)


def test_interrupted_study_resumes_to_the_same_table(tmp_path):
    config = StudyConfig(**TINY)
    whole = read_rows(run_study(config, tmp_path / "whole.csv", workers=1).path)

    seen = []

    def interrupt(n):
        seen.append(n)
        if len(seen) == 3:
            raise KeyboardInterrupt

    part = tmp_path / "part.csv"
    with pytest.raises(KeyboardInterrupt):
        run_study(config, part, workers=1, on_batch=interrupt)
    assert len(ResultStore.open(part, COLUMNS, rows_per_key=2).done) == 3
    computed = []
    run_study(config, part, workers=1, on_batch=computed.append)
    assert sum(computed) == 8 - 3  # finished samples are never recomputed
    assert read_rows(part) == whole


def test_torn_last_line_is_dropped_and_recomputed(tmp_path):
    config = StudyConfig(**TINY)
    path = tmp_path / "s.csv"
    whole = read_rows(run_study(config, path, workers=1).path)
    data = path.read_bytes()
    path.write_bytes(data[: data.rfind(b"\n", 0, len(data) - 1) + 5])  # half a row
    run_study(config, path, workers=1)
    assert read_rows(path) == whole


@pytest.mark.slow
def test_killed_study_process_resumes_to_the_same_table(tmp_path):
    args = [sys.executable, "-m", "parawire", "study", "grid", "--generators", "dp",
            "--generators", "ws", "--samples", "40", "--nodes", "20", "--units", "2",
            "--units", "4", "--eps", "0.1", "--batch", "1", "--workers", "1"]
    whole, part = tmp_path / "whole.csv", tmp_path / "part.csv"
    subprocess.run([*args, "--out", str(whole)], check=True, capture_output=True, timeout=300)
    proc = subprocess.Popen([*args, "--out", str(part)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if part.exists() and part.read_text().count("\n") > 1 + 2 * 10:
            break
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    lines = part.read_text().count("\n") - 1
    assert 0 < lines < 2 * 80, "the kill must land half-way for this test to mean anything"
    subprocess.run([*args, "--out", str(part)], check=True, capture_output=True, timeout=300)
    assert read_rows(part) == read_rows(whole)


@pytest.mark.slow
def test_dask_scheduler_gives_the_same_rows_as_the_local_pool(tmp_path):
    distributed = pytest.importorskip("distributed")
    config = StudyConfig(**TINY)
    local = read_rows(run_study(config, tmp_path / "local.csv", workers=2).path)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        remote = read_rows(run_study(config, tmp_path / "dask.csv",
                                     scheduler=cluster.scheduler_address).path)
    assert remote == local


def test_unreachable_scheduler_is_one_line(tmp_path):
    from parawire.errors import ParawireError

    with pytest.raises(ParawireError, match="cannot reach a Dask scheduler"):
        run_study(StudyConfig(**TINY), tmp_path / "s.csv", scheduler="tcp://127.0.0.1:9")


def test_bad_study_fails_before_any_work(tmp_path):
    with pytest.raises(PluginError, match="unknown generator 'dpp'.*did you mean 'dp'"):
        StudyConfig.build(generators=("dpp",))
    with pytest.raises(SpecError, match="study: samples: got 0;"):
        StudyConfig.build(samples=0)
    out = subprocess.run([sys.executable, "-m", "parawire", "study", "grid", "--quick",
                          "--profile", "moon", "--out", str(tmp_path / "x.csv")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "profile: got 'moon'" in out.stderr
    assert not (tmp_path / "x.csv").exists()


def test_quick_preset_and_resume_computes_nothing(tmp_path):
    config = StudyConfig.quick(samples=1, generators=("dp",))
    assert config.input_shape == (3, 32, 32) and config.nodes == (40,)
    path = tmp_path / "q.csv"
    run_study(config, path, workers=1)
    calls = []
    run_study(config, path, workers=1, on_batch=calls.append)
    assert calls == []


def test_run_grid_reads_the_table_once(tmp_path, monkeypatch):
    import io

    from parawire.cli.study_grid import run_grid
    from rich.console import Console

    config = StudyConfig(**{**TINY, "samples": 1})
    path = tmp_path / "g.csv"
    run_study(config, path, workers=1)
    opened = []
    real_open = ResultStore.open.__func__
    monkeypatch.setattr(ResultStore, "open",
                        classmethod(lambda cls, *a, **k: opened.append(a[0]) or real_open(cls, *a, **k)))
    console = Console(file=io.StringIO(), width=200)
    run_grid(config, path, workers=1, console=console)
    assert opened == [path]
    assert "0 samples computed" in console.file.getvalue() and "2 resumed" in console.file.getvalue()
