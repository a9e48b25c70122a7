"""An image folder: ``PATH/train/<class>/*.png|jpg`` and ``PATH/test/<class>/…``.

For Flowers-102 and the like, arranged one sub-folder per class. Class names are the
sorted sub-folders of ``train``; ``test`` must have the same ones. Every image is
resized (bilinear, PIL) to the spec's H×W and converted to grey (C=1) or RGB (C=3), so
the dataset adapts to the spec rather than the other way round. Training uses a random
crop with H/8 pixels of padding and a horizontal flip, the CIFAR recipe scaled to size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from parawire.errors import ParawireError
from parawire.training.data import DatasetInfo, ImageSet, channel_stats
from parawire.training.transforms import Augment

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}
EXPECTED = "expected PATH/train/<class>/*.png|jpg and PATH/test/<class>/*.png|jpg"


def _classes(split: Path, root: Path) -> list[str]:
    if not split.is_dir():
        raise ParawireError(f"folder:{root}: {split.name}/ is missing; {EXPECTED}")
    names = sorted(p.name for p in split.iterdir() if p.is_dir())
    if not names:
        raise ParawireError(f"folder:{root}: {split.name}/ has no class sub-folders; {EXPECTED}")
    return names


def _read_split(
    root: Path, split: str, classes: list[str], shape: tuple[int, int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    from PIL import Image, UnidentifiedImageError

    channels, height, width = shape
    mode = {1: "L", 3: "RGB"}[channels]
    images, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / split / name).iterdir() if p.suffix.lower() in SUFFIXES)
        if not files:
            raise ParawireError(f"folder:{root}: {split}/{name}/ holds no images; {EXPECTED}")
        for path in files:
            try:
                with Image.open(path) as img:
                    img = img.convert(mode).resize((width, height), Image.Resampling.BILINEAR)
                    pixels = np.asarray(img, dtype=np.uint8).reshape(height, width, channels)
            except (UnidentifiedImageError, OSError) as exc:
                raise ParawireError(f"folder:{root}: cannot read image {path} ({exc})") from None
            images.append(pixels.transpose(2, 0, 1))
            labels.append(label)
    return torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64)


def load_folder(
    root: str | Path, input_shape: tuple[int, int, int]
) -> tuple[ImageSet, ImageSet, DatasetInfo]:
    """The image folder at ``root`` resized to ``input_shape`` (C must be 1 or 3)."""
    root = Path(root)
    if input_shape[0] not in (1, 3):
        raise ParawireError(
            f"folder:{root}: input_shape has {input_shape[0]} channels; use 1 (grey) or 3 (RGB)"
        )
    if not root.is_dir():
        raise ParawireError(f"folder:{root}: not a folder; {EXPECTED}")
    classes = _classes(root / "train", root)
    test_classes = _classes(root / "test", root)
    if test_classes != classes:
        missing = sorted(set(classes) ^ set(test_classes))
        raise ParawireError(
            f"folder:{root}: train/ and test/ have different classes ({', '.join(missing)}); {EXPECTED}"
        )
    train_x, train_y = _read_split(root, "train", classes, input_shape)
    test_x, test_y = _read_split(root, "test", classes, input_shape)
    mean, std = channel_stats(train_x)
    augment = Augment(pad=max(1, input_shape[1] // 8), flip=True)
    train = ImageSet(train_x, train_y, mean, std, augment=augment)
    test = ImageSet(test_x, test_y, mean, std)
    info = DatasetInfo(f"folder:{root.name}", tuple(input_shape), len(classes), tuple(classes), len(train), len(test))
    return train, test, info
