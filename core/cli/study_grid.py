"""``parawire study grid``: the paper's §4 grid, resumable, local pool or Dask.

The full grid and the ``--quick`` preset write different tables by default
(``results/study.csv``, ``results/study-quick.csv``): following the README in order must
not resume one into the other. Any table remembers its settings' fingerprint and a
resume with other settings is refused (:mod:`parawire.study.store`). ``--dry-run``
says what would be computed and about how long it takes (:mod:`parawire.cli.grid_plan`).
A ``--scheduler`` is checked (its address when parsed, then reached) before the table
is created, so a wrong one leaves nothing behind.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
from parawire.cli.options import MAX_PROCESSES, Endpoint, codec_options, codec_plan, finite_floats, plugin_names
from parawire.cli.outputs import RESULTS, check_output
from parawire.cli.printing import echo_json, json_option, print_table, table
from parawire.study.config import MAX_SAMPLES

DEFAULT_OUT = {False: RESULTS / "study.csv", True: RESULTS / "study-quick.csv"}

#: ``StudyConfig``'s defaults and its quick preset's, as ``--help`` shows them (a test keeps
#: them equal; importing the config would cost ``--help`` a second).
DEFAULTS = {
    "samples": ("1000", "20"), "generators": ("er ba ws dp fb chain", "er ba ws dp fb chain"),
    "nodes": ("40 80", "40"), "units": ("4 6 8 10", "2 4 8"), "eps": ("0.03 0.1 0.3", "0.03 0.3"),
    "partitioner": ("multilevel", "multilevel"), "profile": ("edge", "edge"), "batch": ("10", "10"),
}


def shown(field: str) -> str:
    """`` [default: 1000; --quick: 20]`` for a help text."""
    full, quick = DEFAULTS[field]
    return f"  [default: {full}{'' if quick == full else f'; --quick: {quick}'}]"


@click.command()
@click.option("--quick", is_flag=True, help="the small preset the README's main command runs")
@click.option("--samples", type=click.IntRange(1, MAX_SAMPLES), help="architectures per generator and size" + shown("samples"))
@click.option("--generators", multiple=True, help="generator names (repeatable)" + shown("generators"),
              shell_complete=plugin_names("generators"))
@click.option("--nodes", "-n", multiple=True, type=int, help="vertex counts (repeatable)" + shown("nodes"))
@click.option("--units", "-u", multiple=True, type=int, help="unit counts (repeatable)" + shown("units"))
@click.option("--eps", multiple=True, type=finite_floats(),
              help="imbalance bounds of the sweep (repeatable)" + shown("eps"))
@click.option("--partitioner", help="partitioner plugin" + shown("partitioner"),
              shell_complete=plugin_names("partitioners"))
@click.option("--profile", help="device profile for the latency model (edge, lan, local)" + shown("profile"))
@click.option("--batch", type=click.IntRange(min=1), help="samples per task sent to a worker" + shown("batch"))
@click.option("--workers", type=click.IntRange(1, MAX_PROCESSES), help="local processes  [default: all cores]")
@click.option("--scheduler", type=Endpoint(),
              help="tcp://HOST:PORT of a Dask scheduler instead of the local pool  [default: none, the local pool]")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="tidy table (.csv); an existing one made with the same settings is resumed"
                   f"  [default: {DEFAULT_OUT[False]}, with --quick {DEFAULT_OUT[True]}]")
@click.option("--dry-run", is_flag=True,
              help="say what would be computed and about how long it takes (one sample per cell timed);"
                   " write nothing")
@codec_options()
@json_option("the summary")
def grid(quick, samples, generators, nodes, units, eps, partitioner, profile, batch, workers, scheduler, out,
         dry_run, codec, codec_params, as_json):
    """Sample, score and time the paper's grid; rerun to resume an interrupted study."""
    from parawire.study.config import StudyConfig

    out = check_output(out or DEFAULT_OUT[quick], "--out", suffixes=(".csv",))
    choice = codec_plan(codec, codec_params).default
    if not choice.raw:
        from parawire.calibration.codecs import codec_cost

        codec_cost(choice)  # measured once here, not by every worker process at once
    overrides = {
        k: v for k, v in dict(
            samples=samples, generators=tuple(generators) or None, nodes=tuple(nodes) or None,
            units=tuple(units) or None, eps=tuple(eps) or None, partitioner=partitioner,
            profile=profile, batch=batch, codec=None if choice.raw else choice,
        ).items() if v is not None
    }
    config = StudyConfig.build(quick=quick, **overrides)
    if dry_run:
        from parawire.cli.grid_plan import show_plan

        return show_plan(config, out, workers, scheduler, as_json)
    run_grid(config, out, workers=workers, scheduler=scheduler, as_json=as_json)


def record_run(store, config, computed: int, elapsed: float, workers) -> None:
    """Add this run to the table's sidecar: the config of every row so far (the union
    with earlier runs) and the time spent computing, summed (the report's samples/s)."""
    from parawire.study.config import StudyConfig
    from parawire.study.store import read_meta

    meta = read_meta(store.path)
    if "config" in meta:
        config = config.extended(StudyConfig.model_validate(meta["config"]))
    store.update_meta(
        config=config.model_dump(mode="json"),
        seconds=round(meta.get("seconds", 0) + elapsed, 2),
        samples=meta.get("samples", 0) + computed,
        workers=workers,
    )


def run_grid(config, out: Path, workers=None, scheduler=None, console=None, as_json: bool = False) -> None:
    """Compute what ``out`` lacks (progress on stderr), then print the summary."""
    from parawire.study.runner import connect

    client = connect(scheduler) if scheduler else None  # before the table exists
    try:
        done, computed = _compute(config, out, workers, client, scheduler or workers or os.cpu_count(), console)
    finally:
        if client is not None:
            client.close()
    from parawire.study.store import read_rows
    from parawire.study.summary import aggregate

    cells = aggregate(read_rows(out))
    if as_json:
        echo_json({"table": out, "computed": computed, "resumed": done, "cells": [
            {"generator": g, "nodes": n, "units": u, **cell} for (g, n, u), cell in sorted(cells.items())
        ]})
        return
    print_table(summary_table(cells, out))


def _compute(config, out: Path, workers, client, where, console) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Compute the samples ``out`` lacks on ``workers`` processes or a Dask ``client``
    (``where`` is recorded in the sidecar); (resumed, computed) samples."""
    from parawire.cli.progress import Progress
    from parawire.study.runner import open_store, pending_samples, run_study

    store = open_store(config, out)
    done, total = pending_samples(config, store)
    start = time.perf_counter()
    with Progress(console) as progress:
        if done:
            progress.note(f"resuming {out}: {done} of {total} samples already there")
        with progress.bar("study", total, "samples", completed=done) as bar:
            run_study(config, store, workers=workers, scheduler=client, on_batch=bar.advance)
        elapsed = time.perf_counter() - start
        computed = total - done
        if computed:
            record_run(store, config, computed, elapsed, where)
        rate = f", {computed / elapsed:.1f} samples/s" if computed and elapsed > 0 else ""
        progress.note(f"{computed} samples computed in {elapsed:.1f} s{rate}; {done} resumed from {out}")
    return done, computed


#: Read under the summary: each two-line header is one column, named on its first line.
SUMMARY_CAPTION = (
    "n: samples; medians, except comm and params (means). CS: concurrency score (lower is"
    " better); comm: bytes between units; latency: predicted by the latency model for the"
    " partition; latency vs FB: that latency as a multiple of the FB baseline's at the same"
    " size and units; HEFT: list-scheduled latency; bound: a lower bound on any placement's."
)


def summary_table(cells, path):
    """Medians/means per generator × vertices × units, narrow enough for 80 columns; a
    caption names every column, so the two-line headers need no decoding."""
    out = table(f"study summary ({path})", [
        "generator", "nodes", "units", "n", "CS", "comm\nMB", "latency\ns", "latency\nvs FB",
        "HEFT\ns", "bound\ns", "entropy", "params\nM",
    ])
    out.caption, out.caption_justify = SUMMARY_CAPTION, "left"
    for (gen, nodes, units), c in sorted(cells.items()):
        out.add_row(
            gen, str(nodes), str(units), str(c["samples"]), f"{c['cs']:.2f}",
            f"{c['comm_mb']:.1f}", f"{c['latency_s']:.3f}", f"{c['latency_vs_fb']:.2f}",
            f"{c['latency_heft_s']:.3f}", f"{c['lower_bound_s']:.3f}", f"{c['entropy']:.3f}",
            f"{c['params_m']:.1f}",
        )
    return out
