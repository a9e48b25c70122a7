"""``parawire study accuracy``: the paper's Tables 5/6 and Figure 2 on a dataset at hand.

Every name (generators, staging policies, baselines) and every architecture's spec is
checked before the first network trains, so a typo costs a second, not the baselines'
training. Progress on stderr: what is resumed, one bar for the run in training and one
for the whole study with its ETA (in training images, so a slow baseline and a fast
sample count for what they cost).
"""

from __future__ import annotations

from pathlib import Path

import click
from parawire.cli.options import own_default, plugin_names, threads_option
from parawire.cli.outputs import RESULTS, OutputFile
from parawire.cli.printing import echo_json, json_option, print_table, table
from parawire.study.config import MAX_SAMPLES
from parawire.training.schedule import MAX_EPOCHS


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def check_config(config) -> None:
    """Every plugin and baseline named exists and every sample's spec is valid."""
    from parawire.errors import ParawireError
    from parawire.registry.manager import get_plugins
    from parawire.training.accuracy_study import Job, spec_for
    from parawire.training.baselines import BASELINES

    plugins = get_plugins()
    for name in config.baselines:
        if name not in BASELINES:
            raise ParawireError(f"--baselines: got {name!r}; use some of {', '.join(BASELINES)} or ''")
    for generator in config.generators:
        plugins.generators.get(generator)
    for staging in config.stagings:
        plugins.staging.get(staging)
    if config.units > config.nodes:
        raise ParawireError(f"--units: got {config.units}; the architectures have {config.nodes}"
                            f" computation vertices, so use at most {config.nodes}")
    for generator in config.generators:
        for staging in config.stagings:
            spec_for(Job("", generator, staging, config.nodes, 0, config.seed), config)


def summary_table(rows, title: str, units: int):
    from parawire.training.accuracy_study import summarise

    out = table(title, ["architecture", "n", "params\n(M)", "mean\nacc", "best\nacc",
                        "mean\nacc/M", "best\nacc/M", f"mean CS\n({units} u)"])
    summaries = summarise(rows)
    for s in summaries:
        out.add_row(
            s.label, str(s.n), f"{s.mean_params_m:.3f}", f"{s.mean_acc:.2f}", f"{s.best_acc:.2f}",
            f"{s.mean_acc_per_mparam:.1f}", f"{s.best_acc_per_mparam:.1f}",
            "-" if s.mean_cs is None else f"{s.mean_cs:.3f}",
        )
    return out, summaries


class TrainingProgress:
    """A bar for the run in training and one for the whole study, both in training
    images (epochs × train split), so the study's ETA weighs each run by its cost."""

    def __init__(self, progress, total_jobs: int, epochs: int, out: Path):
        self.progress, self.total_jobs, self.epochs, self.out = progress, total_jobs, epochs, out
        self.study = self.run = None
        self.todo, self.label = 0, ""
        self.base = self.epoch_start = self.last = 0

    def start(self, job, n: int, todo: int) -> None:
        if n == 1:
            self.todo = todo
            resumed = self.total_jobs - todo
            if resumed:
                self.progress.note(f"resuming {self.out}: {resumed} of {self.total_jobs} runs already there")
        self.label = f"[{n}/{todo}] {job.label} sample {job.sample}"

    def batch(self, done: int, size: int) -> None:
        """``done`` of ``size`` training images of the current epoch."""
        if self.study is None:  # the train split's size is known from the first batch
            self.study = self.progress.bar("study", size * self.epochs * self.todo, "images")
        if self.run is None:
            self.run = self.progress.bar(self.label, size * self.epochs, "images")
            self.base, self.epoch_start, self.last = self.study.completed, 0, 0
        if done < self.last:  # a new epoch began
            self.epoch_start += self.last
        self.last = done
        self.run.update(self.epoch_start + done)
        self.study.update(self.base + self.run.completed)

    def finished(self, row, n: int, todo: int) -> None:
        if self.run is not None:
            self.run.close()
            self.run = None
        self.progress.note(
            f"[{n}/{todo}] {row['generator']} sample {row['sample']}: top-1"
            f" {100 * float(row['accuracy']):.2f} %, {int(row['params']):,} params,"
            f" CS {row['cs'] or '-'}, {row['seconds']} s"
        )

    def close(self) -> None:
        if self.study is not None:
            self.study.close()
        elif not self.todo:
            self.progress.note(f"nothing to train: all {self.total_jobs} runs are in {self.out}")


@click.command()
@click.option("--samples", type=click.IntRange(1, MAX_SAMPLES), default=10, show_default=True,
              help="architectures per generator × staging")
@click.option("--dataset", default="digits", show_default=True, help="digits, cifar10:PATH or folder:PATH")
@click.option("--generators", default="er,ba,ws,dp", show_default=True, help="comma-separated generator names",
              callback=own_default("generators"),
              shell_complete=plugin_names("generators"))
@click.option("--staging", default="probabilistic", show_default=True, help="comma-separated staging policies",
              callback=own_default("staging"),
              shell_complete=plugin_names("staging"))
@click.option("--baselines", default="cifarnet,resnet", show_default=True, help="comma-separated; '' for none")
@click.option("--epochs", type=click.IntRange(1, MAX_EPOCHS), default=5, show_default=True)
@click.option("--schedule", default=None, help="paper, short or EPOCH:LR:MOMENTUM,… (default: by epochs)")
@click.option("--nodes", "-n", type=click.IntRange(2, 5000), default=40, show_default=True)
@click.option("--base-channels", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--channel-cap", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--aggregation", type=click.Choice(["sigmoid-inputs", "sigmoid-weights"]), default=None,
              help="override the spec's aggregation (default: the spec's)")
@click.option("--units", "-u", type=click.IntRange(min=1), default=4, show_default=True,
              help="units the concurrency score assumes")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="first sample's spec seed")
@threads_option()
@click.option("--out", type=OutputFile((".csv",)), default=RESULTS / "accuracy.csv", show_default=True,
              help="table (.csv); the figure goes beside it as .png")
@json_option("the summary")
def accuracy(samples, dataset, generators, staging, baselines, epochs, schedule, nodes, base_channels,
             channel_cap, aggregation, units, seed, threads, out, as_json) -> None:
    """Train sampled architectures per generator and staging; mean/best top-1 beside baselines.

    Resumable: rows are appended to --out as they finish and a rerun skips them; a table
    made with other settings is refused.
    Writes the table as CSV and the accuracy-vs-CS scatter (paper Fig. 2) beside it.
    """
    from parawire.cli.progress import Progress
    from parawire.training.accuracy_study import StudyConfig, jobs, run_study, scatter
    from parawire.training.schedule import parse_schedule

    config = StudyConfig(
        dataset=dataset, generators=_names(generators), stagings=_names(staging),
        baselines=_names(baselines), samples=samples, epochs=epochs, nodes=nodes,
        base_channels=base_channels, channel_cap=channel_cap, aggregation=aggregation,
        schedule=schedule, units=units, seed=seed,
    )
    check_config(config)
    parse_schedule(schedule, epochs)
    with Progress() as progress:
        display = TrainingProgress(progress, len(list(jobs(config))), epochs, out)
        progress.step(f"loading {dataset} and checking {out}")
        rows = run_study(config, out, threads=threads, on_row=display.finished, on_start=display.start,
                         on_batch=display.batch)
        display.close()
        figure = scatter(rows, out.with_suffix(".png"), f"Accuracy vs concurrency score ({dataset})")
    tab, summaries = summary_table(rows, f"accuracy on {dataset}, {epochs} epochs ({out})", units)
    if as_json:
        echo_json({"table": out, "figure": figure, "rows": summaries})
        return
    print_table(tab)
    click.echo(f"rows: {out}; figure: {figure}")
