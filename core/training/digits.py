"""The embedded default dataset: scikit-learn's bundled handwritten digits.

1,797 real 8×8 grey-scale images of the digits 0–9, shipped inside scikit-learn, so
nothing is downloaded. Decisions (the paper does not use this set):

* **Split**: stratified 80/20 with a fixed seed (``SPLIT_SEED``): 1,437 train, 360 test,
  36 test images per class. The split never depends on the spec's seed, so accuracies of
  different architectures are measured on the same test images.
* **Size**: upsampled once, bilinearly, to 16×16. At 8×8 a network can halve the
  resolution only three times before reaching 1×1, which would force most staging
  decisions of a 40-vertex architecture to be no-ops; 16×16 leaves four halvings and still
  costs little. Values 0..16 are rescaled to 0..255 and stored as bytes like every other
  dataset (quantisation error ≤ 1/510 of the range).
* **No augmentation**: flipping or shifting a digit can change which digit it is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from parawire.training.data import DatasetInfo, ImageSet, channel_stats

SPLIT_SEED = 0
TEST_FRACTION = 0.2
SIZE = 16


def load_digits() -> tuple[ImageSet, ImageSet, DatasetInfo]:
    """The fixed digits split as (train, test, info), images 1×16×16."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    images = torch.from_numpy(bunch.images).to(torch.float32).unsqueeze(1) * (255.0 / 16.0)
    images = F.interpolate(images, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    images = images.round().clamp(0, 255).to(torch.uint8)
    labels = torch.from_numpy(bunch.target).to(torch.int64)
    train_idx, test_idx = train_test_split(
        torch.arange(len(labels)).numpy(),
        test_size=TEST_FRACTION,
        random_state=SPLIT_SEED,
        stratify=labels.numpy(),
    )
    train_idx, test_idx = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
    mean, std = channel_stats(images[train_idx])
    train = ImageSet(images[train_idx], labels[train_idx], mean, std)
    test = ImageSet(images[test_idx], labels[test_idx], mean, std)
    info = DatasetInfo(
        name="digits",
        input_shape=(1, SIZE, SIZE),
        classes=10,
        class_names=tuple(str(d) for d in range(10)),
        train_size=len(train),
        test_size=len(test),
    )
    return train, test, info
