"""Small models that exercise the import's hard cases (tests/test_models*.py).

Referenced as ``<this file>:FACTORY`` so worker processes can import them by path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Shared(nn.Module):
    """A conv called three times (twice in a row, once on a parallel branch), functional
    calls, a parameter read by two blocks, a plain tensor attribute, chunk/cat/add, view
    with a traced size, and an
    in-place ReLU on a tensor that a later block reads again (eager semantics: it sees
    the rectified values)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.shared = nn.Conv2d(8, 8, 3, padding=1)
        self.other = nn.Conv2d(8, 8, 1)
        self.relu = nn.ReLU(inplace=True)
        self.scale = nn.Parameter(torch.linspace(0.5, 1.5, 8).view(1, 8, 1, 1))
        self.fc = nn.Linear(8 * 8 * 8, 5)
        self.offset = torch.full((1, 8, 1, 1), 0.1)  # a plain tensor attribute, not a buffer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x) + self.offset
        a = self.shared(self.shared(s))  # shared weights, called twice in a row
        b = self.other(s)
        self.relu(s)  # in place: s is rectified from here on
        c = self.shared(s) * self.scale  # third call of the shared conv, reads the rectified s
        d = F.relu(torch.add(a, b)) + c * self.scale
        left, right = d.chunk(2, dim=1)
        e = torch.cat([right.sigmoid(), left.relu_()], dim=1)
        e = F.max_pool2d(e, 2)
        return self.fc(e.view(e.size(0), -1))


class Gate(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean() > 0:  # data-dependent control flow: fx cannot trace it
            return x
        return -x


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.body = nn.Sequential(nn.ReLU(), Gate())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.conv(x))


class Augmented(nn.Module):
    """``z += 1`` on a tensor read again later: fx records ``z + 1``, eager mutates y."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.conv2 = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        z = y
        z += 1
        return self.conv2(y) + z


class TwoOutputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor):
        y = self.conv(x)
        return y, y.relu()


def _seeded(cls):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    return cls()


def shared() -> nn.Module:
    return _seeded(Shared)


def untraceable() -> nn.Module:
    return _seeded(Untraceable)


def augmented() -> nn.Module:
    return _seeded(Augmented)


def two_outputs() -> nn.Module:
    return _seeded(TwoOutputs)


def not_a_module() -> int:
    return 3
