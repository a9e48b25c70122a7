"""Dataset loaders: shapes, labels and counts on digits and on tiny generated folders."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from parawire.errors import ParawireError
from parawire.graph.spec import ArchitectureSpec
from parawire.training.cifar import TEST_FILE, TRAIN_FILES
from parawire.training.datasets import fit_spec, load_dataset
from parawire.training.transforms import Augment, random_crop, random_hflip
from PIL import Image


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_digits_split_shapes_and_stratified_counts(digits):
    train, test, info = digits
    assert info.input_shape == (1, 16, 16) and info.classes == 10
    assert (len(train), len(test)) == (1437, 360) == (info.train_size, info.test_size)
    assert train.images.shape == (1437, 1, 16, 16) and train.images.dtype == torch.uint8
    # stratified 80/20: every digit has 35-37 test images (178-183 of each exist in total)
    counts = torch.bincount(test.labels, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37


def test_digits_split_is_fixed(digits):
    again = load_dataset("digits")
    assert torch.equal(again[1].images, digits[1].images)
    assert torch.equal(again[1].labels, digits[1].labels)


def test_digits_batches_are_standardised_on_train(digits):
    train = digits[0]
    x, y = train.batch(torch.arange(len(train)))
    assert x.dtype == torch.float32 and y.shape == (1437,)
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3


def _write_cifar(folder, per_batch: int = 4, protocol: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Batches in the official layout (dict with bytes keys), returning all train data/labels."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    datas, labels = [], []
    for name in (*TRAIN_FILES, TEST_FILE):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        lab = [int(v) for v in rng.integers(0, 10, per_batch)]
        with open(folder / name, "wb") as fh:
            pickle.dump({b"batch_label": b"x", b"labels": lab, b"data": data}, fh, protocol=protocol)
        datas.append(data)
        labels.append(lab)
    return np.concatenate(datas), np.concatenate(labels)


@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar_folder_loads_images_and_labels(tmp_path, protocol):
    data, labels = _write_cifar(tmp_path / "c", protocol=protocol)
    train, test, info = load_dataset(f"cifar10:{tmp_path / 'c'}")
    assert info.input_shape == (3, 32, 32) and info.classes == 10
    assert train.images.shape == (20, 3, 32, 32) and test.images.shape == (4, 3, 32, 32)
    assert np.array_equal(train.images.numpy().reshape(20, 3072), data[:20])
    assert train.labels.tolist() == labels[:20].tolist() and test.labels.tolist() == labels[20:].tolist()
    assert train.augment == Augment(pad=4, flip=True) and test.augment is None


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_cifar_unpickler_refuses_foreign_globals(tmp_path):
    _write_cifar(tmp_path)
    with open(tmp_path / "data_batch_3", "wb") as fh:
        pickle.dump({b"data": _Evil(), b"labels": []}, fh, protocol=2)
    with pytest.raises(ParawireError, match="data_batch_3 is not a CIFAR batch .*posix.system is not allowed"):
        load_dataset(f"cifar10:{tmp_path}")
    assert not (tmp_path / "pwned").exists() and not os.path.exists("pwned")


def test_cifar_missing_file_is_one_line(tmp_path):
    _write_cifar(tmp_path)
    (tmp_path / "test_batch").unlink()
    with pytest.raises(ParawireError) as err:
        load_dataset(f"cifar10:{tmp_path}")
    assert "test_batch is missing" in str(err.value) and "data_batch_1..data_batch_5" in str(err.value)
    assert "\n" not in str(err.value)


def _write_folder(root, counts: dict[str, dict[str, int]]) -> None:
    colours = {"red": (255, 0, 0), "blue": (0, 0, 255), "green": (0, 255, 0)}
    for split, per_class in counts.items():
        for name, n in per_class.items():
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                suffix = "png" if i % 2 == 0 else "jpg"
                Image.new("RGB", (12 + i, 10), colours[name]).save(root / split / name / f"{i}.{suffix}")


def test_image_folder_resizes_and_labels_by_sorted_class(tmp_path):
    _write_folder(tmp_path, {"train": {"red": 3, "blue": 2}, "test": {"red": 1, "blue": 2}})
    train, test, info = load_dataset(f"folder:{tmp_path}", (3, 8, 6))
    assert info.class_names == ("blue", "red") and info.classes == 2
    assert train.images.shape == (5, 3, 8, 6) and test.images.shape == (3, 3, 8, 6)
    assert train.labels.tolist() == [0, 0, 1, 1, 1] and test.labels.tolist() == [0, 0, 1]
    # a blue image stays blue after resizing (JPEG may shift a value by a few levels)
    assert int(train.images[0, 2].min()) > 240 and int(train.images[0, 0].max()) < 10
    assert train.augment == Augment(pad=1, flip=True)
    grey = load_dataset(f"folder:{tmp_path}", (1, 4, 4))[0]
    assert grey.images.shape == (5, 1, 4, 4)


@pytest.mark.parametrize(
    "layout, message",
    [
        ({"train": {"red": 1}}, "test/ is missing"),
        ({"train": {"red": 1, "blue": 1}, "test": {"red": 1, "green": 1}}, "different classes (blue, green)"),
        ({"train": {"red": 0}, "test": {"red": 1}}, "train/red/ holds no images"),
    ],
)
def test_malformed_image_folder_is_one_line(tmp_path, layout, message):
    _write_folder(tmp_path, layout)
    with pytest.raises(ParawireError) as err:
        load_dataset(f"folder:{tmp_path}", (3, 8, 8))
    text = str(err.value)
    assert message in text and "expected PATH/train/<class>/" in text and "\n" not in text


def test_unknown_reference_and_missing_folder(tmp_path):
    with pytest.raises(ParawireError, match="got 'mnist'; use digits, cifar10:PATH or folder:PATH"):
        load_dataset("mnist")
    with pytest.raises(ParawireError, match="not a folder; expected PATH/train"):
        load_dataset(f"folder:{tmp_path / 'nope'}", (3, 8, 8))


def test_fit_spec_overrides_shape_and_classes(digits):
    spec, changes = fit_spec(ArchitectureSpec(), digits[2])
    assert spec.input_shape == (1, 16, 16) and spec.classes == 10
    assert changes == ["input_shape (3, 32, 32) → (1, 16, 16)"]
    assert fit_spec(spec, digits[2])[1] == []


def test_random_crop_is_a_seeded_window_of_the_padded_image():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5)
    out = random_crop(x, 2, torch.Generator().manual_seed(1))
    assert torch.equal(out, random_crop(x, 2, torch.Generator().manual_seed(1)))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for n in range(2):
        windows = [padded[n, :, i : i + 5, j : j + 5] for i in range(5) for j in range(5)]
        assert any(torch.equal(out[n], w) for w in windows)
    assert torch.equal(random_crop(x, 0, torch.Generator()), x)


def test_hflip_mirrors_about_half_the_images():
    x = torch.randn(400, 1, 2, 3)
    out = random_hflip(x, torch.Generator().manual_seed(0))
    flipped = sum(torch.equal(out[i], x[i].flip(2)) for i in range(400))
    kept = sum(torch.equal(out[i], x[i]) for i in range(400))
    assert flipped + kept == 400 and 150 < flipped < 250
