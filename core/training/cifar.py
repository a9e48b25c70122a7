"""CIFAR-10 from a local folder in the official "python version" batch format.

The official files (``data_batch_1`` … ``data_batch_5``, ``test_batch``,
``batches.meta``) are Python pickles: that is their format, there is no other. Reading
a pickle can run arbitrary code, so they are read with :class:`RestrictedUnpickler`, which
resolves only the handful of globals a pickled dict of numpy arrays needs (numpy's array
reconstruction and ``_codecs.encode`` for protocol-2 bytes) and refuses everything else.
Only files the user pointed to on the local disk are read this way, never network data.

Standard recipe: normalisation with the customary CIFAR-10 per-channel mean/std,
random crop with 4-pixel padding and horizontal flip for training.
"""

from __future__ import annotations

import _codecs
import pickle
from pathlib import Path

import numpy as np
import torch
from parawire.errors import ParawireError
from parawire.training.data import DatasetInfo, ImageSet
from parawire.training.transforms import Augment

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
# The customary CIFAR-10 training-set statistics (on the [0, 1] scale).
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
EXPECTED = (
    "expected the CIFAR-10 python version: data_batch_1..data_batch_5 and test_batch "
    "(from cifar-10-python.tar.gz, folder cifar-10-batches-py)"
)


def _allowed_globals() -> dict[tuple[str, str], object]:
    """The only globals a CIFAR batch may reference (numpy 1.x and 2.x spellings)."""
    from numpy._core import multiarray, numeric

    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _codecs.encode,
    }
    for prefix in ("numpy.core", "numpy._core"):
        allowed[(f"{prefix}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{prefix}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain containers and numpy arrays."""

    _allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed") from None


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of one batch file."""
    try:
        with path.open("rb") as fh:
            batch = RestrictedUnpickler(fh, encoding="bytes").load()
        batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
        data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except FileNotFoundError:
        raise ParawireError(f"cifar10:{path.parent}: {path.name} is missing; {EXPECTED}") from None
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, AttributeError, TypeError) as exc:
        raise ParawireError(f"cifar10:{path.parent}: {path.name} is not a CIFAR batch ({exc}); {EXPECTED}") from None
    if len(data) != len(labels) or (len(labels) and (labels.min() < 0 or labels.max() > 9)):
        raise ParawireError(f"cifar10:{path.parent}: {path.name} has mismatched data/labels; {EXPECTED}")
    return data, labels


def load_cifar10(root: str | Path) -> tuple[ImageSet, ImageSet, DatasetInfo]:
    """CIFAR-10 from ``root`` as (train, test, info), images 3×32×32."""
    root = Path(root)
    if not root.is_dir():
        raise ParawireError(f"cifar10:{root}: not a folder; {EXPECTED}")
    parts = [read_batch(root / name) for name in TRAIN_FILES]
    train_x = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    train_y = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    test_np = read_batch(root / TEST_FILE)
    test_x, test_y = torch.from_numpy(test_np[0]), torch.from_numpy(test_np[1])
    train = ImageSet(train_x, train_y, MEAN, STD, augment=Augment(pad=4, flip=True))
    test = ImageSet(test_x, test_y, MEAN, STD)
    info = DatasetInfo("cifar10", (3, 32, 32), 10, CLASS_NAMES, len(train), len(test))
    return train, test, info
