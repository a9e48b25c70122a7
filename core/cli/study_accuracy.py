"""``parawire study accuracy``: the paper's Tables 5/6 and Figure 2 on a dataset at hand."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


@click.command()
@click.option("--samples", type=int, default=10, show_default=True, help="architectures per generator × staging")
@click.option("--dataset", default="digits", show_default=True, help="digits, cifar10:PATH or folder:PATH")
@click.option("--generators", default="er,ba,ws,dp", show_default=True, help="comma-separated generator names")
@click.option("--staging", default="probabilistic", show_default=True, help="comma-separated staging policies")
@click.option("--baselines", default="cifarnet,resnet", show_default=True, help="comma-separated; '' for none")
@click.option("--epochs", type=int, default=5, show_default=True)
@click.option("--schedule", default=None, help="paper, short or EPOCH:LR:MOMENTUM,… (default: by epochs)")
@click.option("--nodes", type=int, default=40, show_default=True)
@click.option("--base-channels", type=int, default=8, show_default=True)
@click.option("--channel-cap", type=int, default=64, show_default=True)
@click.option("--aggregation", type=click.Choice(["sigmoid-inputs", "sigmoid-weights"]), default=None,
              help="override the spec's aggregation (default: the spec's)")
@click.option("--units", type=int, default=4, show_default=True, help="units the concurrency score assumes")
@click.option("--seed", type=int, default=0, show_default=True, help="first sample's spec seed")
@click.option("--threads", type=int, default=1, show_default=True, help="torch intra-op threads")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("results/accuracy.csv"), show_default=True)
def accuracy(samples, dataset, generators, staging, baselines, epochs, schedule, nodes, base_channels,
             channel_cap, aggregation, units, seed, threads, out) -> None:
    """Train sampled architectures per generator and staging; mean/best top-1 beside baselines.

    Resumable: rows are appended to --out as they finish and a rerun skips them.
    Writes the table as CSV and the accuracy-vs-CS scatter (paper Fig. 2) beside it.
    """
    from parawire.training.accuracy_study import StudyConfig, run_study, scatter, summarise

    config = StudyConfig(
        dataset=dataset, generators=_names(generators), stagings=_names(staging),
        baselines=_names(baselines), samples=samples, epochs=epochs, nodes=nodes,
        base_channels=base_channels, channel_cap=channel_cap, aggregation=aggregation,
        schedule=schedule, units=units, seed=seed,
    )
    console = Console()

    def on_row(row, n, total) -> None:
        console.print(
            f"[{n}/{total}] {row['generator']} sample {row['sample']}: top-1"
            f" {100 * float(row['accuracy']):.2f} %, {int(row['params']):,} params,"
            f" CS {row['cs'] or '-'}, {row['seconds']} s"
        )

    rows = run_study(config, out, threads=threads, on_row=on_row)
    table = Table(title=f"accuracy on {dataset}, {epochs} epochs ({out})")
    for column in ("architecture", "n", "params (M)", "mean acc", "best acc",
                   "mean acc/M", "best acc/M", f"mean CS ({units} units)"):
        table.add_column(column, justify="left" if column == "architecture" else "right")
    for s in summarise(rows):
        table.add_row(
            s.label, str(s.n), f"{s.mean_params_m:.3f}", f"{s.mean_acc:.2f}", f"{s.best_acc:.2f}",
            f"{s.mean_acc_per_mparam:.1f}", f"{s.best_acc_per_mparam:.1f}",
            "-" if s.mean_cs is None else f"{s.mean_cs:.3f}",
        )
    console.print(table)
    figure = scatter(rows, out.with_suffix(".png"), f"Accuracy vs concurrency score ({dataset})")
    console.print(f"rows: {out}; figure: {figure}")
