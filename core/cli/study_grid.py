"""``parawire study grid``: the paper's §4 grid, resumable, local pool or Dask."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click
from parawire.study.config import StudyConfig
from parawire.study.runner import open_store, pending_samples, run_study
from parawire.study.summary import summary_table
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


@click.command()
@click.option("--quick", is_flag=True, help="the small preset the README's main command runs")
@click.option("--samples", type=click.IntRange(min=1), help="architectures per generator and size")
@click.option("--generators", multiple=True, help="generator names (repeatable)")
@click.option("--nodes", multiple=True, type=int, help="vertex counts (repeatable)")
@click.option("--units", multiple=True, type=int, help="unit counts (repeatable)")
@click.option("--eps", multiple=True, type=float, help="imbalance bounds of the sweep (repeatable)")
@click.option("--partitioner", help="partitioner plugin")
@click.option("--profile", help="device profile for the latency model (edge, lan, local)")
@click.option("--batch", type=click.IntRange(min=1), help="samples per task sent to a worker")
@click.option("--workers", type=click.IntRange(min=1), help="local processes (default: all cores)")
@click.option("--scheduler", help="tcp://HOST:PORT of a Dask scheduler instead of the local pool")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("results/study.csv"),
              show_default=True, help="tidy table; an existing one is resumed")
def grid(quick, samples, generators, nodes, units, eps, partitioner, profile, batch, workers, scheduler, out):
    """Sample, score and time the paper's grid; rerun to resume an interrupted study."""
    overrides = {
        k: v for k, v in dict(
            samples=samples, generators=tuple(generators) or None, nodes=tuple(nodes) or None,
            units=tuple(units) or None, eps=tuple(eps) or None, partitioner=partitioner,
            profile=profile, batch=batch,
        ).items() if v is not None
    }
    config = StudyConfig.build(quick=quick, **overrides)
    run_grid(config, out, workers=workers, scheduler=scheduler)


def run_grid(config: StudyConfig, out: Path, workers=None, scheduler=None, console=None) -> None:
    console = console or Console()
    store = open_store(config, out)
    done, total = pending_samples(config, store)
    start = time.perf_counter()
    with Progress(
        TextColumn("[bold]study"), BarColumn(), MofNCompleteColumn(), TextColumn("samples"),
        TimeRemainingColumn(), console=console, transient=False,
    ) as progress:
        task = progress.add_task("study", total=total, completed=done)
        run_study(config, store, workers=workers, scheduler=scheduler,
                  on_batch=lambda n: progress.advance(task, n))
    elapsed = time.perf_counter() - start
    computed = total - done
    if computed:  # the report's samples/s; a pure resume keeps the first run's figures
        Path(out).with_suffix(".meta.json").write_text(json.dumps({
            "config": config.model_dump(mode="json"), "seconds": round(elapsed, 2),
            "samples": computed, "workers": scheduler or workers or os.cpu_count(),
        }, indent=2) + "\n")
    rate = f", {computed / elapsed:.1f} samples/s" if computed and elapsed > 0 else ""
    console.print(f"{computed} samples computed in {elapsed:.1f} s{rate}; {done} resumed from {out}")
    console.print(summary_table(out))
