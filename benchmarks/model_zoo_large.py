"""A model of about a thousand blocks for the import benchmark (benchmarks/test_bench_models.py).

``stages`` stages of ``branches`` parallel conv–BN–ReLU branches on a small image, summed
and passed on: every branch becomes one block, so 250 × 4 gives 1000 blocks plus the sums.
"""

from __future__ import annotations

import torch
from torch import nn


class Stage(nn.Module):
    def __init__(self, channels: int, branches: int):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                          nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
            for _ in range(branches)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for branch in self.branches:
            out = out + branch(x)
        return out * (1.0 / (len(self.branches) + 1))  # keeps activations bounded over 250 stages


class Ladder(nn.Module):
    def __init__(self, stages: int = 250, branches: int = 4, channels: int = 8):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, padding=1)
        self.stages = nn.Sequential(*(Stage(channels, branches) for _ in range(stages)))
        self.fc = nn.Linear(channels, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.stages(self.stem(x)).mean(dim=(2, 3)))


def ladder() -> nn.Module:
    torch.manual_seed(0)
    return Ladder()
