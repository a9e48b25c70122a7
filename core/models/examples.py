"""Bundled example models, importable wherever parawire is installed (so workers can be
allowed to build them: ``--allow-model parawire.models.examples:inception``).

* :func:`resnet20`, :func:`cifarnet`: the training baselines of
  :mod:`parawire.training.baselines` (10 classes, seed 0).
* :func:`inception`: an Inception-style multi-branch network (GoogLeNet's module: 1×1,
  1×1→3×3, 1×1→3×3→3×3 and pool→1×1 branches, concatenated; a max-pool halves the
  image between the second and third module). Its four branches are
  independent work, the concurrency the score looks for; it also exercises in-place
  ReLUs, functional calls and ``torch.cat``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
        nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class InceptionModule(nn.Module):
    def __init__(self, cin: int, c1: int, c3: tuple[int, int], c5: tuple[int, int], cp: int):
        super().__init__()
        self.b1 = _conv(cin, c1, 1)
        self.b3 = nn.Sequential(_conv(cin, c3[0], 1), _conv(c3[0], c3[1], 3))
        self.b5 = nn.Sequential(_conv(cin, c5[0], 1), _conv(c5[0], c5[1], 3), _conv(c5[1], c5[1], 3))
        self.bp = _conv(cin, cp, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.max_pool2d(x, 3, stride=1, padding=1)
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(pooled)], dim=1)


class Inception(nn.Module):
    """Stem, three Inception modules (a 3×3/2 max-pool between the 2nd and 3rd, as in
    GoogLeNet), global average pooling, linear classifier."""

    def __init__(self, input_shape: tuple[int, int, int] = (3, 32, 32), classes: int = 10, width: int = 32):
        super().__init__()
        w = width
        self.stem = _conv(input_shape[0], 2 * w, 3)
        self.a = InceptionModule(2 * w, w, (w, 2 * w), (w // 2, w), w)  # → 5w
        self.b = InceptionModule(5 * w, 2 * w, (w, 3 * w), (w // 2, w), w)  # → 7w
        self.c = InceptionModule(7 * w, 2 * w, (2 * w, 3 * w), (w, 2 * w), w)  # → 8w
        self.fc = nn.Linear(8 * w, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.c(F.max_pool2d(self.b(self.a(self.stem(x))), 3, stride=2, padding=1))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _seeded(build) -> nn.Module:  # type: ignore[no-untyped-def]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build()


def resnet20(input_shape: tuple[int, int, int] = (3, 32, 32)) -> nn.Module:
    from parawire.training.baselines import build_baseline

    return build_baseline("resnet", input_shape, 10, seed=0)


def cifarnet(input_shape: tuple[int, int, int] = (3, 32, 32)) -> nn.Module:
    from parawire.training.baselines import build_baseline

    return build_baseline("cifarnet", input_shape, 10, seed=0)


def inception(input_shape: tuple[int, int, int] = (3, 32, 32)) -> nn.Module:
    return _seeded(lambda: Inception(tuple(input_shape)))
