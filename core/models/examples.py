"""Bundled example models, importable wherever parawire is installed (so workers can be
allowed to build them: ``--allow-model parawire.models.examples:inception``).

* :func:`resnet20`, :func:`cifarnet`: the training baselines of
  :mod:`parawire.training.baselines` (10 classes, seed 0).
* :func:`inception`: an Inception-style multi-branch network (GoogLeNet's module: 1×1,
  1×1→3×3, 1×1→3×3→3×3 and pool→1×1 branches, concatenated; a max-pool halves the
  image between the second and third module). Its four branches are
  independent work, the concurrency the score looks for; it also exercises in-place
  ReLUs, functional calls and ``torch.cat``.
* :func:`resnet18`: torchvision's ResNet-18 layout, written here (no torchvision
  dependency): 1.81 G multiply-adds at 224 × 224.
* :func:`vit_tiny`: a ViT-Tiny-like model (16 × 16 patches, width 192, 12 pre-norm
  encoder layers of 3 heads, MLP 768, class token): 1.25 G multiply-adds at
  224 × 224; its encoder layers become blocks of their own.
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


class BasicBlock(nn.Module):
    """ResNet's two 3×3 convolutions with an identity or 1×1/stride-2 projection shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet18(nn.Module):
    """torchvision's ``resnet18`` layout: 7×7/2 stem, 3×3/2 max-pool, four stages of two
    basic blocks (64, 128, 256, 512 channels), global average pool, linear."""

    def __init__(self, input_shape: tuple[int, int, int] = (3, 224, 224), classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(input_shape[0], 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages, cin = [], 64
        for i, cout in enumerate((64, 128, 256, 512)):
            stages.append(nn.Sequential(BasicBlock(cin, cout, 1 if i == 0 else 2), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class ViT(nn.Module):
    """Patch embedding (a strided convolution), class token, learned positions, pre-norm
    transformer encoder layers, final norm, linear head on the class token."""

    def __init__(self, input_shape: tuple[int, int, int] = (3, 224, 224), patch: int = 16, dim: int = 192,
                 depth: int = 12, heads: int = 3, mlp: int = 768, classes: int = 1000) -> None:
        super().__init__()
        c, h, w = input_shape
        self.embed = nn.Conv2d(c, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, (h // patch) * (w // patch) + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, mlp, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, norm=nn.LayerNorm(dim), enable_nested_tensor=False)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(tokens.shape[0], -1, -1), tokens], dim=1) + self.pos
        return self.head(self.encoder(tokens)[:, 0])


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


def resnet18(input_shape: tuple[int, int, int] = (3, 224, 224)) -> nn.Module:
    return _seeded(lambda: ResNet18(tuple(input_shape)))


def vit_tiny(input_shape: tuple[int, int, int] = (3, 224, 224)) -> nn.Module:
    return _seeded(lambda: ViT(tuple(input_shape)))
