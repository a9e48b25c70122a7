"""``parawire train``: train one architecture (or a baseline) and report top-1 accuracy."""

from __future__ import annotations

from pathlib import Path

import click
from parawire.errors import ParawireError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

DATASET_HELP = "digits (bundled, default), cifar10:PATH (python batches) or folder:PATH"


def build_model(spec, baseline: str | None):
    """The network the spec describes, or the named baseline sized like it."""
    if baseline is not None:
        from parawire.training.baselines import build_baseline

        return build_baseline(baseline, spec.input_shape, spec.classes, seed=spec.seed)
    from parawire.architecture import build_architecture
    from parawire.nn import build_network

    return build_network(build_architecture(spec))


@click.command()
@click.argument("spec_file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dataset", default="digits", show_default=True, help=DATASET_HELP)
@click.option("--epochs", type=int, default=5, show_default=True)
@click.option("--schedule", default=None,
              help="paper, short or EPOCH:LR:MOMENTUM,… (default: paper from 100 epochs on, else short)")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--seed", type=int, default=None, help="training seed (default: the spec's seed)")
@click.option("--checkpoint", "checkpoint", type=click.Path(file_okay=False, path_type=Path),
              help="folder for per-epoch checkpoints")
@click.option("--resume", is_flag=True, help="continue from the checkpoint in --checkpoint")
@click.option("--baseline", type=click.Choice(["cifarnet", "resnet"]),
              help="train a baseline instead of the spec's network (the spec is then optional)")
def train(spec_file, dataset, epochs, schedule, batch_size, seed, checkpoint, resume, baseline) -> None:
    """Train SPEC_FILE's network with SGD and report top-1 accuracy on the test split."""
    from parawire.spec import ArchitectureSpec
    from parawire.training.baselines import count_params
    from parawire.training.datasets import fit_spec, load_dataset
    from parawire.training.schedule import parse_schedule
    from parawire.training.trainer import train as run_training

    if spec_file is None and baseline is None:
        raise ParawireError("SPEC_FILE: missing; give an architecture file or --baseline cifarnet|resnet")
    if resume and checkpoint is None:
        raise ParawireError("--resume: needs --checkpoint DIR to resume from")
    console = Console()
    spec = ArchitectureSpec.load(spec_file) if spec_file is not None else ArchitectureSpec()
    data = load_dataset(dataset, spec.input_shape)
    spec, changes = fit_spec(spec, data[2])
    for change in changes:
        console.print(f"[yellow]note[/]: spec {change} to match {data[2].name}")
    plan = parse_schedule(schedule, epochs)
    model = build_model(spec, baseline)
    name = baseline or f"{spec.generator}/{spec.staging} seed {spec.seed}"
    console.print(f"{name}: {count_params(model):,} parameters, schedule {plan.describe()}")
    console.print(f"{data[2].name}: {data[2].train_size} train, {data[2].test_size} test images")
    with Progress(
        TextColumn("epoch {task.fields[epoch]}/{task.fields[epochs]}"), BarColumn(),
        TextColumn("{task.completed}/{task.total} images"), TimeRemainingColumn(),
        console=console, transient=True,
    ) as progress:
        task = progress.add_task("train", total=data[2].train_size, epoch=1, epochs=epochs)

        def on_batch(done: int, total: int) -> None:
            progress.update(task, completed=done)

        def on_epoch(stats) -> None:
            progress.console.print(
                f"epoch {stats.epoch:>3}/{epochs}  loss {stats.loss:.4f}  top-1 {100 * stats.accuracy:6.2f} %"
                f"  {stats.images_per_s:,.0f} images/s  lr {stats.lr:g} momentum {stats.momentum:g}"
            )
            progress.update(task, completed=0, epoch=min(stats.epoch + 1, epochs))

        result = run_training(
            model, data, epochs, plan, seed=spec.seed if seed is None else seed,
            checkpoint_dir=checkpoint, resume=resume, batch_size=batch_size,
            on_batch=on_batch, on_epoch=on_epoch,
        )
    if result.resumed_from:
        console.print(f"resumed after epoch {result.resumed_from}")
    console.print(f"[bold]top-1 accuracy {100 * result.accuracy:.2f} %[/] after {result.epochs} epochs")
