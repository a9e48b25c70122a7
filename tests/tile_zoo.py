"""CNN families for the imported models' tiles (tests/test_model_tiles.py): each
``FACTORY(input_shape)`` builds a seeded model in eval mode, so a worker builds the
same one. Written for the tests, not tuned to any tiling."""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn


def _cbr(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU6())


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int = 4) -> None:
        super().__init__()
        mid = cin * expand
        self.body = nn.Sequential(_cbr(cin, mid, 1), _cbr(mid, mid, 3, stride, groups=mid),
                                  nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetLike(nn.Module):
    """MobileNetV2's stem and inverted residuals (depthwise 3×3, stride 2 in places)."""

    def __init__(self, input_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.stem = _cbr(input_shape[0], 16, 3, 2)
        self.blocks = nn.Sequential(InvertedResidual(16, 16, 1), InvertedResidual(16, 24, 2),
                                    InvertedResidual(24, 24, 1), InvertedResidual(24, 32, 2))
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


class UNetLike(nn.Module):
    """Two encoder levels, an upsampled decoder with a skip: the decoder cannot tile."""

    def __init__(self, input_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.e1 = _cbr(input_shape[0], 8)
        self.e2 = _cbr(8, 16, 3, 2)
        self.d1 = _cbr(24, 8)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.e1(x)
        b = self.e2(a)
        up = F.interpolate(b, size=a.shape[-2:], mode="nearest")
        return self.head(self.d1(torch.cat([a, up], 1))).flatten(1)


class SqueezeExcite(nn.Module):
    """A conv stack whose channels are rescaled by a global pool's gate (SE)."""

    def __init__(self, input_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.stem = _cbr(input_shape[0], 16, 3, 2)
        self.conv = _cbr(16, 16)
        self.gate = nn.Sequential(nn.Linear(16, 4), nn.ReLU(), nn.Linear(4, 16), nn.Sigmoid())
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(self.stem(x))
        y = y * self.gate(y.mean((2, 3)))[:, :, None, None]
        return self.fc(y.mean((2, 3)))


class DenseLike(nn.Module):
    """Dense connectivity: every layer reads the concatenation of all before it."""

    def __init__(self, input_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.stem = _cbr(input_shape[0], 8)
        self.l1 = _cbr(8, 8)
        self.l2 = _cbr(16, 8)
        self.pool = nn.AvgPool2d(2)
        self.l3 = _cbr(24, 8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.stem(x)
        b = torch.cat([a, self.l1(a)], 1)
        c = torch.cat([b, self.l2(b)], 1)
        return self.fc(self.l3(self.pool(c)).mean((2, 3)))


class Windows(nn.Module):
    """Windows of every shape: a dilated conv, a padded average pool counting its padding,
    a "same" conv with a 5×3 kernel dilated (1, 2), a functional conv with a 3×5 kernel,
    strides (2, 1) and padding (1, 2), a 3×3/2 max-pool with padding, a 1×1 conv with
    stride 2."""

    def __init__(self, input_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.dilated = nn.Conv2d(input_shape[0], 8, 3, padding=2, dilation=2)
        self.same = nn.Conv2d(8, 8, (5, 3), padding="same", dilation=(1, 2))
        self.weight = nn.Parameter(torch.randn(8, 8, 3, 5) * 0.1)
        self.bias = nn.Parameter(torch.randn(8) * 0.1)
        self.point = nn.Conv2d(8, 12, 1, stride=2)
        self.fc = nn.Linear(12, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.dilated(x))
        y = F.avg_pool2d(y, 3, stride=1, padding=1, count_include_pad=True)
        y = self.same(y)
        y = F.gelu(F.conv2d(y, self.weight, self.bias, stride=(2, 1), padding=(1, 2)))
        y = F.max_pool2d(y, 3, 2, 1)
        return self.fc(self.point(y).mean((2, 3)))


class Positional(nn.Module):
    """A learned map added to the features: a crop would read the wrong part of it."""

    def __init__(self, input_shape: tuple[int, int, int]) -> None:
        super().__init__()
        c, h, w = input_shape
        self.conv = _cbr(c, 8)
        self.pos = nn.Parameter(torch.randn(1, 8, h, w) * 0.1)
        self.after = _cbr(8, 8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.after(self.conv(x) + self.pos).mean((2, 3)))


class Untileable(nn.Module):
    """Ops a window cannot say, each read from the image: group norm (statistics over the
    map), "same" padding of an even kernel (one zero more on one side), a ceil-mode pool."""

    def __init__(self, input_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.stem = _cbr(input_shape[0], 8)
        self.norm = nn.GroupNorm(2, 8)
        self.same = nn.Conv2d(input_shape[0], 8, 4, padding="same")
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.fc = nn.Linear(8 + 8 + input_shape[0], 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = (self.norm(self.stem(x)), self.same(x), self.pool(x))
        return self.fc(torch.cat([m.mean((2, 3)) for m in maps], 1))


def _seeded(cls, input_shape) -> nn.Module:  # type: ignore[no-untyped-def]
    """``cls`` built with torch's seed 0, in eval mode, with BatchNorm statistics that
    are not the identity (so a tile that used the wrong ones would show)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = cls(tuple(input_shape)).eval()
    with torch.no_grad():  # BatchNorm statistics that are not the identity
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                g = torch.Generator().manual_seed(m.num_features)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model


class ShiftedConv(nn.Conv2d):
    """A conv subclass whose own forward adds a learned map: not a plain conv's window."""

    def __init__(self, cin: int, cout: int, size: tuple[int, int]) -> None:
        super().__init__(cin, cout, 3, padding=1)
        self.shift = nn.Parameter(torch.randn(1, cout, *size) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + self.shift


class Subclassed(nn.Module):
    def __init__(self, input_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.conv = ShiftedConv(input_shape[0], 8, input_shape[1:])
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.conv(x)).mean((2, 3)))


class Splits(nn.Module):
    """CSP-like channel splits (``chunk`` and ``torch.split`` over channels, which tile),
    then a split of the width (which does not: its halves are different places)."""

    def __init__(self, input_shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.stem = _cbr(input_shape[0], 16, 3, 2)
        self.a, self.b = _cbr(8, 8), _cbr(8, 8)
        self.c, self.d = _cbr(16, 8), _cbr(16, 8)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p, q = self.stem(x).chunk(2, dim=1)
        y = torch.cat([self.a(p), self.b(q)], 1)
        u, v = torch.split(y, [8, 8], dim=1)
        y = torch.cat([self.c(torch.cat([u, v], 1)), self.d(torch.cat([v, u], 1))], 1)[:, :8]
        left, right = y.chunk(2, dim=3)
        return self.fc((left.mean((2, 3)) + right.mean((2, 3))))


# the factories (FILE.py:NAME), each called with the image's input_shape
mobilenet = partial(_seeded, MobileNetLike)
unet = partial(_seeded, UNetLike)
squeeze_excite = partial(_seeded, SqueezeExcite)
dense = partial(_seeded, DenseLike)
windows = partial(_seeded, Windows)
positional = partial(_seeded, Positional)
untileable = partial(_seeded, Untileable)
subclassed = partial(_seeded, Subclassed)
splits = partial(_seeded, Splits)
