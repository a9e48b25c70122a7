"""``parawire train``: train one architecture (or a baseline) and report top-1 accuracy.

Every check runs before the first line of progress: the spec (``-`` reads it from
stdin), the ``--dataset`` reference and its folder, the schedule, and whether a
checkpoint may be resumed with these settings; only then is anything loaded.
"""

from __future__ import annotations

from pathlib import Path

import click
from parawire.cli.options import threads_option
from parawire.cli.outputs import OutputDir
from parawire.cli.printing import echo_json, json_option
from parawire.errors import ParawireError
from parawire.training.schedule import MAX_EPOCHS

DATASET_HELP = "digits (bundled, default), cifar10:PATH (python batches) or folder:PATH"


def build_model(spec, baseline: str | None):
    """The network the spec describes, or the named baseline sized like it."""
    if baseline is not None:
        from parawire.training.baselines import build_baseline

        return build_baseline(baseline, spec.input_shape, spec.classes, seed=spec.seed)
    from parawire.network.nn import build_network
    from parawire.pipeline.build import build_architecture

    return build_network(build_architecture(spec))


def check_checkpoint(folder: Path | None, resume: bool) -> dict | None:
    """The checkpoint index to resume from (None for a fresh run).

    ``--resume`` needs a committed checkpoint; without it, an existing one is refused
    rather than silently overwritten (it may hold days of training)."""
    if folder is None:
        if resume:
            raise ParawireError("--resume: needs --checkpoint DIR to resume from")
        return None
    from parawire.training.checkpoint import read_index

    index = read_index(folder) if folder.is_dir() else None
    if resume and index is None:
        raise ParawireError(f"--resume: {folder} holds no checkpoint; train without --resume to start one there")
    if not resume and index is not None:
        raise ParawireError(
            f"--checkpoint {folder}: holds a checkpoint after epoch {index.get('epoch')}; add --resume to"
            " continue it, or give another folder"
        )
    return index


@click.command()
@click.argument("spec_file", required=False, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--dataset", default="digits", show_default=True, help=DATASET_HELP)
@click.option("--epochs", type=click.IntRange(1, MAX_EPOCHS), default=5, show_default=True)
@click.option("--schedule", default=None,
              help="paper, short or EPOCH:LR:MOMENTUM,… (default: paper from 100 epochs on, else short)")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=None, help="training seed (default: the spec's seed)")
@click.option("--checkpoint", "checkpoint", type=OutputDir(),
              help="folder for per-epoch checkpoints (an existing one needs --resume)")
@click.option("--resume", is_flag=True, help="continue from the checkpoint in --checkpoint")
@click.option("--baseline", type=click.Choice(["cifarnet", "resnet"]),
              help="train a baseline instead of a spec's network (then give no SPEC_FILE)")
@threads_option()
@json_option("the accuracy and every epoch's statistics")
def train(spec_file, dataset, epochs, schedule, batch_size, seed, checkpoint, resume, baseline, threads,
          as_json) -> None:
    """Train SPEC_FILE's network with SGD and report top-1 accuracy on the test split."""
    from parawire.cli.inputs import load_spec
    from parawire.cli.progress import Progress
    from parawire.graph.spec import ArchitectureSpec
    from parawire.training.datasets import parse_ref
    from parawire.training.schedule import parse_schedule

    if spec_file is None and baseline is None:
        raise ParawireError("SPEC_FILE: missing; give an architecture file or --baseline cifarnet|resnet")
    if spec_file is not None and baseline is not None:
        raise ParawireError(f"--baseline {baseline}: trains the baseline, not {spec_file}'s network;"
                            " give SPEC_FILE or --baseline, not both")
    spec = load_spec(spec_file) if spec_file is not None else ArchitectureSpec()
    parse_ref(dataset)
    plan = parse_schedule(schedule, epochs)
    index = check_checkpoint(checkpoint, resume)
    seed = spec.seed if seed is None else seed
    from parawire.network.threads import torch_threads
    from parawire.training.baselines import count_params
    from parawire.training.datasets import fit_spec, load_dataset
    from parawire.training.trainer import check_resume, run_settings
    from parawire.training.trainer import train as run_training

    if index is not None:
        check_resume(checkpoint, index, run_settings(seed, batch_size, plan))
    done = int(index["epoch"]) if index is not None else 0
    with Progress() as progress:
        progress.step(f"loading {dataset}")
        data = load_dataset(dataset, spec.input_shape)
        spec, changes = fit_spec(spec, data[2])
        for change in changes:
            progress.note(f"note: spec {change} to match {data[2].name}")
        model = build_model(spec, baseline)
        name = baseline or f"{spec.generator}/{spec.staging} seed {spec.seed}"
        params = count_params(model)
        progress.note(f"{name}: {params:,} parameters, schedule {plan.describe()}")
        progress.note(f"{data[2].name}: {data[2].train_size} train, {data[2].test_size} test images")
        if done:
            progress.note(f"resumed after epoch {done} from {checkpoint}")
        epoch_bar = None

        def on_batch(images: int, total: int) -> None:
            nonlocal epoch_bar
            if epoch_bar is None:
                epoch_bar = progress.bar(f"epoch {done + 1}/{epochs}", total, "images")
            epoch_bar.update(images)

        def on_epoch(stats) -> None:
            nonlocal epoch_bar, done
            if epoch_bar is not None:
                epoch_bar.close()
            epoch_bar, done = None, stats.epoch
            progress.note(
                f"epoch {stats.epoch:>3}/{epochs}  loss {stats.loss:.4f}  top-1 {100 * stats.accuracy:6.2f} %"
                f"  {stats.images_per_s:,.0f} images/s  lr {stats.lr:g} momentum {stats.momentum:g}"
            )

        with torch_threads(threads):
            result = run_training(
                model, data, epochs, plan, seed=seed, checkpoint_dir=checkpoint, resume=resume,
                batch_size=batch_size, on_batch=on_batch, on_epoch=on_epoch,
            )
    if as_json:
        echo_json({"model": name, "dataset": data[2].name, "parameters": params, "accuracy": result.accuracy,
                   "epochs": result.epochs, "resumed_from": result.resumed_from, "history": result.history,
                   "checkpoint": checkpoint})
        return
    click.echo(f"top-1 accuracy {100 * result.accuracy:.2f} % after {result.epochs} epochs")
