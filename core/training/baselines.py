"""Hand-written baselines for Tables 5 and 6 (torchvision is not available).

* :class:`CifarNet` — the TF-slim CifarNet shape: two 5×5 convolutions of ``width``
  filters, each followed by 3×3/2 max-pooling, then fully connected 384 → 192 → classes.
  Batch norm replaces the original local response normalisation (LRN is out of fashion
  and trains worse with plain SGD); dropout 0.5 before the classifier as in the original.
* :class:`ResNet` — the CIFAR ResNet of He et al. (ResNet-20 at the defaults): a 3×3
  stem, three stages of basic blocks (two 3×3 convs + identity or 1×1 projection
  shortcut) at ``width``, 2·``width``, 4·``width`` channels, stride 2 between stages,
  global average pooling, a linear classifier. The paper's Flower-102 baseline is the
  bottleneck ResNet-50; the basic-block family is what small inputs call for.

Both take the image shape and class count, so they run on digits, CIFAR-10 and image
folders alike. :func:`build_baseline` seeds the initialisation from the seed alone.
"""

from __future__ import annotations

import torch
from parawire.errors import ParawireError
from parawire.graph.seeds import derived_seed
from torch import nn


class CifarNet(nn.Module):
    def __init__(self, input_shape: tuple[int, int, int], classes: int, width: int = 64):
        super().__init__()
        channels, height, width_px = input_shape
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1), nn.BatchNorm2d(width),
            nn.Conv2d(width, width, 5, padding=2), nn.ReLU(inplace=True),
            nn.BatchNorm2d(width), nn.MaxPool2d(3, stride=2, padding=1),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(2, channels, height, width_px)).flatten(1).shape[1]
        self.classifier = nn.Sequential(
            nn.Linear(flat, 384), nn.ReLU(inplace=True),
            nn.Linear(384, 192), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(192, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class BasicBlock(nn.Module):
    """Two 3×3 conv–BN layers plus a shortcut (a 1×1 projection when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
        )
        self.shortcut = (
            nn.Identity() if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(
        self, input_shape: tuple[int, int, int], classes: int, width: int = 16, blocks: int = 3
    ):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(input_shape[0], width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        ]
        cin = width
        for stage in range(3):
            cout = width * 2**stage
            for b in range(blocks):
                layers.append(BasicBlock(cin, cout, stride=2 if stage and b == 0 else 1))
                cin = cout
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


BASELINES = {"cifarnet": CifarNet, "resnet": ResNet}


def build_baseline(
    name: str, input_shape: tuple[int, int, int], classes: int, seed: int = 0, width: int | None = None
) -> nn.Module:
    """Baseline ``name`` with its initial weights fixed by ``seed`` (global RNG untouched)."""
    if name not in BASELINES:
        raise ParawireError(f"--baseline: got {name!r}; use one of {', '.join(BASELINES)}")
    kwargs = {} if width is None else {"width": width}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derived_seed(seed, "baseline", len(name)))
        return BASELINES[name](tuple(input_shape), classes, **kwargs)


def count_params(model: nn.Module) -> int:
    """Trainable parameters (what the paper's accuracy-per-parameter divides by)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
