"""The learning-rate and momentum schedule: piecewise constant, by epoch.

The paper (§4.1) trains with SGD: lr 1e-3, momentum 0.9 for the first 100 epochs, then
lr 5e-4, momentum 0.95 (Flower-102 runs 300 epochs, CIFAR-10 100). That is
:func:`paper_schedule`. With lr 1e-3 a run of a few epochs barely leaves its
initialisation, so short runs (fewer than 100 epochs) default to :func:`short_schedule`:
lr 0.05, momentum 0.9 for the first three quarters, then lr 0.005 — the usual step decay,
tuned on digits where 5 epochs of it reach above 90 % with a small network.

Written on the command line as ``EPOCH:LR:MOMENTUM`` phases separated by commas, e.g.
``0:1e-3:0.9,100:5e-4:0.95`` (that is the paper's), or by name: ``paper``, ``short``.
"""

from __future__ import annotations

from dataclasses import dataclass

from parawire.errors import ParawireError

PAPER_EPOCHS = 100


@dataclass(frozen=True)
class Phase:
    """From epoch ``start`` (0-based) on, train with ``lr`` and ``momentum``."""

    start: int
    lr: float
    momentum: float


@dataclass(frozen=True)
class Schedule:
    """Phases sorted by start; the first starts at epoch 0."""

    phases: tuple[Phase, ...]
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if not self.phases or self.phases[0].start != 0:
            raise ParawireError("--schedule: the first phase must start at epoch 0, e.g. 0:0.05:0.9")
        starts = [p.start for p in self.phases]
        if starts != sorted(set(starts)):
            raise ParawireError(f"--schedule: phase starts {starts} must increase strictly")
        for p in self.phases:
            if p.lr <= 0 or not 0 <= p.momentum < 1:
                raise ParawireError(
                    f"--schedule: phase at epoch {p.start} has lr {p.lr}, momentum {p.momentum};"
                    " need lr > 0 and 0 ≤ momentum < 1"
                )

    def at(self, epoch: int) -> Phase:
        """The phase in force during ``epoch`` (0-based)."""
        return [p for p in self.phases if p.start <= epoch][-1]

    def describe(self) -> str:
        return ",".join(f"{p.start}:{p.lr:g}:{p.momentum:g}" for p in self.phases)


MAX_EPOCHS = 10_000
"""Most epochs ``train`` and ``study accuracy`` take: the paper trains for 100s, and on
digits 10,000 are hours here; more is a typo that trained for ever."""


def paper_schedule() -> Schedule:
    """The paper's: lr 1e-3 / momentum 0.9, from epoch 100 lr 5e-4 / momentum 0.95."""
    return Schedule((Phase(0, 1e-3, 0.9), Phase(PAPER_EPOCHS, 5e-4, 0.95)))


def short_schedule(epochs: int) -> Schedule:
    """lr 0.05 for the first three quarters of ``epochs``, then 0.005; momentum 0.9."""
    decay = max(1, (3 * epochs) // 4)
    phases = [Phase(0, 0.05, 0.9)]
    if decay < epochs:
        phases.append(Phase(decay, 0.005, 0.9))
    return Schedule(tuple(phases))


def default_schedule(epochs: int) -> Schedule:
    """The paper's schedule for runs of 100 epochs or more, the short one otherwise."""
    return paper_schedule() if epochs >= PAPER_EPOCHS else short_schedule(epochs)


def parse_schedule(text: str | None, epochs: int) -> Schedule:
    """A schedule from ``paper``, ``short``, ``EPOCH:LR:MOMENTUM,…`` or None (the default)."""
    if text is None or text == "default":
        return default_schedule(epochs)
    if text == "paper":
        return paper_schedule()
    if text == "short":
        return short_schedule(epochs)
    phases = []
    for part in text.split(","):
        try:
            start, lr, momentum = part.split(":")
            phases.append(Phase(int(start), float(lr), float(momentum)))
        except ValueError:
            raise ParawireError(
                f"--schedule: got {part!r}; write EPOCH:LR:MOMENTUM phases separated by commas"
                " (e.g. 0:1e-3:0.9,100:5e-4:0.95), or paper, short"
            ) from None
    return Schedule(tuple(phases))
