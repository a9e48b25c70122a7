"""``load_dataset``: one entry point for the ``--dataset`` references.

* ``digits`` — scikit-learn's bundled digits, 1×16×16, 10 classes (the default);
* ``cifar10:PATH`` — CIFAR-10's official python batches in PATH, 3×32×32, 10 classes;
* ``folder:PATH`` — PATH/train/<class>/… and PATH/test/<class>/…, resized to the spec.

digits and CIFAR-10 have a fixed image shape; an image folder takes the requested one.
The returned :class:`DatasetInfo` is authoritative: :func:`fit_spec` rewrites a spec's
``input_shape`` and ``classes`` to match it, so a spec written for 3×32×32 trains on
digits without editing (the CLI prints the override). :func:`parse_ref` checks a
reference (its kind, that PATH exists; ``~`` is expanded, since a shell does not expand
it after ``cifar10:``) before anything loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from parawire.errors import ParawireError
from parawire.graph.spec import ArchitectureSpec

if TYPE_CHECKING:  # the loaders import torch; checking a reference must not
    from parawire.training.data import DatasetInfo, ImageSet

KINDS = "digits, cifar10:PATH or folder:PATH"


def parse_ref(ref: str) -> tuple[str, Path | None]:
    """(kind, folder) of a ``--dataset`` reference; a one-line error for an unknown kind
    or a folder that does not exist."""
    kind, _, path = ref.partition(":")
    if kind == "digits" and not path:
        return kind, None
    if kind in ("cifar10", "folder") and path:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ParawireError(f"--dataset {ref}: {folder} is not a folder; expected PATH/train and PATH/test"
                                  " (folder:) or the CIFAR-10 batches (cifar10:)")
        return kind, folder
    raise ParawireError(f"--dataset: got {ref!r}; use {KINDS}")


def load_dataset(
    ref: str, input_shape: tuple[int, int, int] = (3, 32, 32)
) -> tuple[ImageSet, ImageSet, DatasetInfo]:
    """(train, test, info) for a dataset reference such as ``digits`` or ``cifar10:/data``."""
    kind, folder = parse_ref(ref)
    if kind == "cifar10":
        from parawire.training.cifar import load_cifar10

        return load_cifar10(folder)
    if kind == "folder":
        from parawire.training.folder import load_folder

        return load_folder(folder, tuple(input_shape))
    from parawire.training.digits import load_digits

    return load_digits()


def fit_spec(spec: ArchitectureSpec, info: DatasetInfo) -> tuple[ArchitectureSpec, list[str]]:
    """The spec with ``input_shape`` and ``classes`` set to the dataset's, and what changed."""
    changes = []
    if tuple(spec.input_shape) != info.input_shape:
        changes.append(f"input_shape {tuple(spec.input_shape)} → {info.input_shape}")
    if spec.classes != info.classes:
        changes.append(f"classes {spec.classes} → {info.classes}")
    fitted = spec.model_copy(update={"input_shape": info.input_shape, "classes": info.classes})
    return fitted, changes
