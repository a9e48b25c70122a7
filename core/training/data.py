"""The in-memory form every dataset loader produces.

Images are kept as ``uint8`` (N, C, H, W) tensors and normalised one batch at a time:
Flowers-102 at 224×224 is 1.2 GB as bytes but 4.9 GB as float32, and the same code path
then serves the 1,797 digits and the 60,000 CIFAR images alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from parawire.training.transforms import Augment, normalise


@dataclass(frozen=True)
class ImageSet:
    """One split: images, labels, the per-channel statistics and (train only) augmentation."""

    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,)
    mean: tuple[float, ...]  # per channel, on the [0, 1] scale
    std: tuple[float, ...]
    augment: Augment | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batch(
        self, index: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised float32 images and labels at ``index``; augmented when a generator is given."""
        x = normalise(self.images[index], self.mean, self.std)
        if self.augment is not None and generator is not None:
            x = self.augment(x, generator)
        return x, self.labels[index]


@dataclass(frozen=True)
class DatasetInfo:
    """What a network must match: image shape and class count, plus names for reports."""

    name: str
    input_shape: tuple[int, int, int]
    classes: int
    class_names: tuple[str, ...]
    train_size: int
    test_size: int


def channel_stats(
    images: torch.Tensor, chunk: int = 1024
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images on the [0, 1] scale (train split only).

    Accumulated in chunks so a large image folder never needs a float64 copy of itself.
    """
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for start in range(0, images.shape[0], chunk):
        x = images[start : start + chunk].to(torch.float64) / 255.0
        total += x.sum(dim=(0, 2, 3))
        squares += (x * x).sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(1e-12).sqrt()
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)
