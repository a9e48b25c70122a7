"""SGD training with top-1 test accuracy, per-epoch checkpoints and exact resume.

A run is a pure function of (initial weights, data, schedule, seed, batch size) on one
machine: deterministic algorithms are switched on for the run, and each epoch draws its
shuffle order, augmentation and any other torch randomness (dropout) from generators
seeded by ``(seed, epoch)`` via :func:`parawire.graph.seeds.derived_seed`. Resuming after
epoch ``e`` therefore replays epoch ``e + 1`` exactly as an uninterrupted run would,
and the final weights are bit-identical (tested).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from parawire.errors import ParawireError
from parawire.graph.seeds import derived_seed
from parawire.training.checkpoint import load_checkpoint, read_index, save_checkpoint
from parawire.training.data import ImageSet
from parawire.training.schedule import Schedule, default_schedule


@dataclass(frozen=True)
class EpochStats:
    """What one epoch did: mean training loss, test top-1, training throughput."""

    epoch: int  # 1-based
    loss: float
    accuracy: float  # top-1 on the test split, in [0, 1]
    images_per_s: float
    seconds: float
    lr: float
    momentum: float


@dataclass(frozen=True)
class TrainResult:
    accuracy: float  # top-1 after the last epoch
    epochs: int
    history: tuple[EpochStats, ...]
    resumed_from: int  # epochs already done when this call started (0: fresh)


def run_settings(seed: int, batch_size: int, schedule: Schedule) -> dict:
    """The settings a resumed run must share with its checkpoint."""
    return {"seed": seed, "batch_size": batch_size, "schedule": schedule.describe()}


def check_resume(folder: Path, index: dict, settings: dict) -> None:
    """Refuse to resume the checkpoint ``index`` of ``folder`` with other :func:`run_settings`
    (the CLI asks before it loads anything, :func:`train` again before it trains)."""
    for key in ("seed", "batch_size", "schedule"):
        if index.get(key) != settings[key]:
            raise ParawireError(
                f"--resume: checkpoint in {folder} has {key} {index.get(key)!r}, this run"
                f" {settings[key]!r}; use the same settings or a fresh --checkpoint folder"
            )


@contextmanager
def deterministic() -> Iterator[None]:
    """Deterministic torch algorithms and a private global RNG for the duration of a run."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        torch.use_deterministic_algorithms(previous)


def _generator(seed: int, stream: str, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(derived_seed(seed, stream, epoch))


def evaluate(model: torch.nn.Module, data: ImageSet, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` on ``data`` (eval mode, no augmentation)."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(data), batch_size):
            x, y = data.batch(torch.arange(start, min(start + batch_size, len(data))))
            correct += int((model(x).argmax(dim=1) == y).sum())
    return correct / max(1, len(data))


def train_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: ImageSet,
    batch_size: int,
    seed: int,
    epoch: int,
    on_batch: Callable[[int, int], None] | None = None,
) -> tuple[float, int]:
    """One pass over ``data`` in a seeded order; returns (mean loss, images seen).

    A trailing batch of one image is skipped: batch norm cannot train on it.
    """
    model.train()
    torch.manual_seed(derived_seed(seed, "torch", epoch))
    order = torch.randperm(len(data), generator=_generator(seed, "shuffle", epoch))
    augment = _generator(seed, "augment", epoch)
    total, seen = 0.0, 0
    for start in range(0, len(data), batch_size):
        index = order[start : start + batch_size]
        if len(index) < 2:
            break
        x, y = data.batch(index, augment)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(index)
        seen += len(index)
        if on_batch is not None:
            on_batch(seen, len(data))
    return total / max(1, seen), seen


def _apply(optimizer: torch.optim.Optimizer, schedule: Schedule, epoch: int) -> tuple[float, float]:
    phase = schedule.at(epoch)
    for group in optimizer.param_groups:
        group["lr"], group["momentum"] = phase.lr, phase.momentum
    return phase.lr, phase.momentum


def train(
    model: torch.nn.Module,
    dataset: tuple[ImageSet, ImageSet, object],
    epochs: int,
    schedule: Schedule | None = None,
    seed: int = 0,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    batch_size: int = 64,
    on_batch: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place for ``epochs`` epochs on ``dataset`` = (train, test, info).

    With ``checkpoint_dir`` a checkpoint is committed after every epoch; with ``resume``
    a committed one is loaded first and training continues from the epoch after it.
    ``on_batch(images_done, images_total)`` and ``on_epoch(stats)`` feed progress displays.
    """
    if epochs < 1:
        raise ParawireError(f"--epochs: got {epochs}; need at least 1")
    train_set, test_set = dataset[0], dataset[1]
    schedule = schedule or default_schedule(epochs)
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    meta = {"epochs": epochs, **run_settings(seed, batch_size, schedule)}
    with deterministic():
        optimizer = torch.optim.SGD(
            model.parameters(), lr=schedule.at(0).lr, momentum=schedule.at(0).momentum,
            weight_decay=schedule.weight_decay,
        )
        history: list[EpochStats] = []
        start = 0
        index = read_index(folder) if (folder is not None and resume) else None
        if index is not None:
            check_resume(folder, index, meta)
            load_checkpoint(folder, index, model, optimizer)
            start = int(index["epoch"])
            history = [EpochStats(**h) for h in index.get("history", [])]
        for epoch in range(start, epochs):
            lr, momentum = _apply(optimizer, schedule, epoch)
            began = time.perf_counter()
            loss, seen = train_epoch(model, optimizer, train_set, batch_size, seed, epoch, on_batch)
            train_s = time.perf_counter() - began
            accuracy = evaluate(model, test_set)
            stats = EpochStats(
                epoch + 1, loss, accuracy, seen / max(train_s, 1e-9),
                time.perf_counter() - began, lr, momentum,
            )
            history.append(stats)
            if folder is not None:
                save_checkpoint(folder, epoch + 1, model, optimizer,
                                {**meta, "history": [asdict(h) for h in history]})
            if on_epoch is not None:
                on_epoch(stats)
    final = history[-1].accuracy if history else evaluate(model, test_set)
    return TrainResult(final, epochs, tuple(history), start)
