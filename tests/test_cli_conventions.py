"""The conventions people bring from git, pip, pytest, cargo and gh (issue 26): bare groups
print help, a mistyped command gets a suggestion, ``-V`` works on every command, global
``-q``/``-v``/``--no-progress``, ``-`` for a spec on stdin/stdout, shell completion
scripts, defaults in every help, ``--json`` objects, every spec field in ``generate``,
``plugins`` short by default and ``study grid --dry-run``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import click
import pytest
from parawire.cli import cli as root
from parawire.cli import main
from parawire.graph.spec import ArchitectureSpec

TINY = ["--generator", "chain", "--nodes", "3", "--base-channels", "2", "--channel-cap", "4"]
GRID = ["study", "grid", "--quick", "--generators", "chain", "--samples", "2", "--nodes", "4", "--units", "2",
        "--workers", "1"]



@pytest.fixture
def ws(tmp_path: Path, monkeypatch, capsys) -> Path:
    monkeypatch.chdir(tmp_path)
    main(["generate", *TINY, "-o", "arch.json"])
    capsys.readouterr()
    return tmp_path


@pytest.mark.parametrize("argv", [[], ["study"], ["plugin"], ["testbed"]], ids=lambda a: " ".join(a) or "parawire")
def test_a_bare_group_prints_its_help_and_succeeds(argv, cli):
    code, out, err = cli(*argv)
    assert (code, err) == (0, "")
    assert out.startswith(f"Usage: {' '.join(['parawire', *argv])} [OPTIONS] COMMAND [ARGS]...")
    assert "Commands:" in out


@pytest.mark.parametrize("argv", [[], ["run"], ["study", "grid"], ["plugin", "new"], ["testbed", "run"]],
                         ids=lambda a: " ".join(a) or "parawire")
def test_every_command_takes_dash_capital_v(argv, cli):
    from importlib.metadata import version

    code, out, _ = cli(*argv, "-V")
    assert (code, out) == (0, f"parawire, version {version('parawire')}\n")


@pytest.mark.parametrize("shell, marker", [
    ("bash", "complete -o nosort -F _parawire_completion parawire"),
    ("zsh", "compdef _parawire_completion parawire"),
    ("fish", "complete --no-files --command parawire"),
])
def test_completion_prints_the_shells_script(shell, marker, cli):
    code, out, _ = cli("completion", shell)
    assert code == 0 and marker in out and f"_PARAWIRE_COMPLETE={shell}_complete" in out


def test_quiet_prints_results_only_and_no_progress_keeps_the_phases(ws, cli):
    code, out, err = cli("-q", *GRID, "--out", "q.csv")
    assert (code, err) == (0, "") and "study summary" in out
    code, out, err = cli("--no-progress", *GRID, "--out", "n.csv")
    assert code == 0 and "study summary" in out
    assert err.splitlines() == [line for line in err.splitlines() if not line.startswith("study:")]
    assert "2 samples computed" in err
    code, _, err = cli(*GRID, "--out", "p.csv")
    assert code == 0 and "study: 2/2 samples in" in err


def test_verbose_and_quiet_reach_every_progress_display():
    from parawire.cli.progress import Progress
    from parawire.cli.verbosity import KEY, Verbosity

    with click.Context(root) as ctx:
        assert (Progress().every, Progress().quiet, Progress().bars) == (10.0, False, True)
        ctx.meta[KEY] = Verbosity(level=1)
        assert Progress().every == 1.0
        ctx.meta[KEY] = Verbosity(level=-1, bars=False)
        assert Progress().quiet and not Progress().bars


@pytest.fixture
def first_load(monkeypatch):
    """The plugins not yet loaded in this process, as at the start of a command (the
    process-wide ones are put back afterwards)."""
    from functools import lru_cache

    from parawire.registry import manager

    monkeypatch.setattr(manager, "_default_plugins", lru_cache(maxsize=1)(manager._default_plugins.__wrapped__))


LOADING = "loading the plugins (and torch)"


@pytest.mark.parametrize("argv", [["show", "arch.json"], ["score", "arch.json", "-u", "2", "--eps", "0.1"],
                                  ["plugins"]], ids=lambda a: a[0])
def test_a_terminal_sees_a_spinner_on_stderr_while_the_plugins_load(argv, ws, first_load, monkeypatch, cli):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich takes stderr for a terminal
    code, out, err = cli(*argv)
    assert code == 0 and LOADING in err and LOADING not in out
    assert "\x1b[2K" in err[err.rindex(LOADING):]  # the line erased when done


def test_the_loading_note_is_a_line_with_v_and_silent_piped_or_with_q(ws, first_load, monkeypatch, cli):
    from parawire.registry import manager

    code, out, err = cli("show", "arch.json")
    assert code == 0 and LOADING not in err + out  # piped: a log gains nothing from it
    manager._default_plugins.cache_clear()
    code, out, err = cli("-v", "show", "arch.json")
    assert code == 0 and f"{LOADING}…\n" in err and LOADING not in out
    manager._default_plugins.cache_clear()
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    code, out, err = cli("-q", "show", "arch.json")
    assert code == 0 and err == "" and LOADING not in out
    manager._default_plugins.cache_clear()
    code, out, err = cli("--no-progress", "show", "arch.json")
    assert code == 0 and f"{LOADING}…\n" in err and "\x1b[2K" not in err  # a phase line, no spinner


def test_a_spec_goes_through_a_pipe_with_dash(ws, monkeypatch, cli):
    code, out, err = cli("generate", *TINY, "--seed", "4", "-o", "-")
    assert (code, err) == (0, "")
    assert ArchitectureSpec.model_validate_json(out).seed == 4
    monkeypatch.setattr("sys.stdin", io.StringIO(out))
    code, out, _ = cli("score", "-", "-u", "2", "--eps", "0.1", "--json")
    document = json.loads(out)
    assert code == 0 and document["spec"] == "-" and [r["units"] for r in document["rows"]] == [2]
    monkeypatch.setattr("sys.stdin", io.StringIO('generator = "chain"\nnodes = 3\nbase_channels = 2\n'))
    code, out, _ = cli("show", "-", "--json")
    assert code == 0 and json.loads(out)["spec"]["nodes"] == 3


def test_testbed_run_and_plot_arch_read_a_spec_on_stdin_with_dash(ws, monkeypatch, cli):
    """The two remaining spec inputs take ``-`` like ``score``, ``show``, ``run``."""
    from parawire.study import plots

    spec = ArchitectureSpec.load(ws / "arch.json").model_copy(update={"seed": 9})
    got = {}
    monkeypatch.setattr("parawire.testbed.runner.run_points", lambda spec, *a, **k: got.setdefault("testbed", spec))
    monkeypatch.setattr("sys.stdin", io.StringIO(spec.to_json()))
    code, _, err = cli("testbed", "run", "-", "--devices", "1", "2")
    assert (code, got["testbed"]) == (0, spec), err
    assert cli(*GRID, "--out", "s.csv")[0] == 0
    monkeypatch.setattr(plots, "figure_jobs", lambda rows, out, arch, **k: got.setdefault("plot", arch) and {})
    monkeypatch.setattr("sys.stdin", io.StringIO(spec.to_json()))
    code, _, err = cli("plot", "s.csv", "--arch", "-", "--out", "figs")
    assert code == 0, err
    assert (got["plot"].dag.nodes, got["plot"].spec) == (spec.nodes, spec)


def test_generate_sets_every_spec_field(ws, cli):
    from parawire.cli.generate import PARAM_FIELDS, generate

    options = {p.name for p in generate.params}
    assert set(ArchitectureSpec.model_fields) <= options | set(PARAM_FIELDS)
    code, _, _ = cli("generate", "-g", "chain", "-n", "5", "-s", "2", "--staging", "uniform",
                     "--input-shape", "1", "224", "224", "--classes", "7", "--base-channels", "3",
                     "--channel-cap", "6", "--aggregation", "sigmoid-inputs", "-o", "big.json")
    assert code == 0
    assert ArchitectureSpec.load(ws / "big.json") == ArchitectureSpec(
        generator="chain", nodes=5, seed=2, staging="uniform", input_shape=(1, 224, 224), classes=7,
        base_channels=3, channel_cap=6, aggregation="sigmoid-inputs")


def every_option():
    """(command path, option) for every option of every command."""

    def walk(command, path, ctx):
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                yield from walk(command.get_command(ctx, name), [*path, name], ctx)
            return
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                yield " ".join(path), param

    yield from walk(root, [], click.Context(root))


#: Options that are simply absent when not given (nothing takes their place).
NOTHING_WHEN_ABSENT = {
    "--output", "--model", "--endpoint", "--curve-secret", "--curve-server", "--curve-clients", "--report",
    "--kind", "--checkpoint", "--baseline", "--allow-model", "--param", "--staging-param",
    "--partitioner-param", "--score-param", "--transport-param", "--engine-param", "--codec-param", "--owner-secret", "--arch",
    "--meta", "--max-params", "--max-flops", "--min-accuracy", "--scheduler", "--against",
}


def test_every_help_shows_the_default_of_every_option():
    missing = [
        f"{path} {param.opts[0]}" for path, param in every_option()
        if not (param.is_flag or param.count or param.required or param.show_default
                or "default" in (param.help or "") or param.opts[0] in NOTHING_WHEN_ABSENT)
    ]
    assert missing == []


def test_the_defaults_help_repeats_are_the_real_ones():
    from parawire.cli.study_grid import DEFAULTS
    from parawire.cli.worker import LIMITS
    from parawire.study.config import StudyConfig

    full, quick = StudyConfig(), StudyConfig.quick()
    for field, (shown_full, shown_quick) in DEFAULTS.items():
        for config, shown in ((full, shown_full), (quick, shown_quick)):
            value = getattr(config, field)
            assert shown == (" ".join(map(str, value)) if isinstance(value, tuple) else str(value)), field
    import importlib

    for target, value in LIMITS.items():
        module, name = target.split(":")
        assert getattr(importlib.import_module(module), name) == value


def test_score_json_is_an_object_and_the_table_names_every_column(ws, cli):
    code, out, _ = cli("score", "arch.json", "-u", "2", "--eps", "0.1", "0.3", "--json")
    document = json.loads(out)
    assert code == 0 and {k: document[k] for k in ("spec", "model", "partitioner", "score")} == {
        "spec": "arch.json", "model": None, "partitioner": "multilevel", "score": "cs"}
    assert sum(row["best"] for row in document["rows"]) == 1
    code, out, _ = cli("score", "arch.json", "-u", "2", "--eps", "0.1", "0.3")
    assert out.splitlines()[1].split()[-2:] == ["balanced", "kept"] and out.count("◀ best ε") == 1 and "kept: the ε with the lowest" in out


def test_plugins_is_short_by_default_with_details_on_demand(cli):
    _, short, _ = cli("plugins")
    _, verbose, _ = cli("plugins", "-v")
    _, also_verbose, _ = cli("-v", "plugins")
    def header(table: str) -> list[str]:
        return next(line for line in table.splitlines() if line.startswith("kind")).split()

    assert header(short) == ["kind", "name", "what", "it", "does", "status"]
    assert max(map(len, short.splitlines())) <= 80
    assert header(verbose) == ["kind", "name", "description", "from", "parameters", "status"]
    assert verbose == also_verbose
    code, one, _ = cli("plugins", "dp")
    assert code == 0 and one.splitlines()[0] == "dp (generators)" and "    p = 0.5" in one.splitlines()


def test_grid_dry_run_says_what_would_run_and_writes_nothing(ws, cli):
    code, out, _ = cli(*GRID, "--out", "s.csv", "--dry-run", "--json")
    plan = json.loads(out)
    assert code == 0 and (plan["todo"], plan["done"]) == (2, 0) and plan["estimated_s"] > 0
    assert not (ws / "s.csv").exists() and not (ws / "s.meta.json").exists()
    cli(*GRID, "--out", "s.csv")
    before = (ws / "s.csv").read_bytes()
    code, out, _ = cli(*GRID, "--out", "s.csv", "--dry-run")
    assert code == 0 and "would compute 0 samples (2 already in s.csv)" in out
    assert (ws / "s.csv").read_bytes() == before


def test_the_summary_caption_names_the_two_line_headers():
    from parawire.cli.study_grid import summary_table

    cell = {"samples": 1, "cs": 1.0, "comm_mb": 1.0, "latency_s": 1.0, "latency_vs_fb": 1.0,
            "latency_heft_s": 1.0, "lower_bound_s": 1.0, "entropy": 1.0, "params_m": 1.0}
    tab = summary_table({("dp", 40, 2): cell}, "s.csv")
    assert [str(c.header) for c in tab.columns][4:8] == ["CS", "comm\nMB", "latency\ns", "latency\nvs FB"]
    assert "latency vs FB: that latency as a multiple of the FB baseline's" in tab.caption


def test_run_prints_only_measurements_in_the_speedup_column():
    from parawire.cli.run import result_table

    rows = [{"run": "2 workers (zmq-ipc)", "engine": "onnxruntime", "median_ms": 2.0, "p90_ms": 3.0, "speedup": 0.5,
             "error": None},
            {"run": "1 process, 1 thread", "engine": "torch", "median_ms": 1.0, "p90_ms": 1.0, "speedup": 1.0,
             "error": None}]
    tab = result_table("t", rows)
    assert tab.row_count == 2 and [str(c.header) for c in tab.columns][-1] == "speed-up"


def test_the_worker_start_limit_grows_with_the_load_and_its_error_names_timeout(monkeypatch):
    from parawire.cli import startup
    from parawire.errors import ParawireError

    monkeypatch.setattr(startup.os, "getloadavg", lambda: (8.0, 0.0, 0.0))
    monkeypatch.setattr(startup.os, "cpu_count", lambda: 2)
    assert startup.start_timeout(30) == 120
    monkeypatch.setattr(startup.os, "getloadavg", lambda: (0.5, 0.0, 0.0))
    assert startup.start_timeout(30) == 30
    with pytest.raises(ParawireError, match=r"^--timeout 30: 4 local worker processes did not start within 0 s"
                                            r" \(--timeout scaled by the load, 0.2 per core\).*--timeout 120$"):
        with startup.starting_workers(4, 30, limit=0):
            raise ParawireError("worker process 1 did not start in time")
    with pytest.raises(ParawireError, match="^exited early$"), startup.starting_workers(4, 30, limit=1e9):
        raise ParawireError("exited early")


@pytest.mark.slow
def test_train_json_is_one_document(ws, cli):
    code, out, err = cli("train", "arch.json", "--epochs", "1", "--json")
    document = json.loads(out)
    assert code == 0 and document["epochs"] == 1 and 0 <= document["accuracy"] <= 1
    assert [h["epoch"] for h in document["history"]] == [1] and "epoch   1/1" in err


@pytest.mark.slow
def test_demo_json_is_one_document(ws, cli):
    code, out, err = cli("demo", "--samples", "1", "--runs", "1", "--out", "d", "--json")
    assert code == 0, err
    document = json.loads(out)  # the steps' tables would make this fail
    assert document["spec"] == "d/most-concurrent.json" and (ws / document["report"]).is_file()
    assert document["chosen"]["generator"] != "chain" and document["run"]["units"] == 2
