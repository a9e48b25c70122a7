"""A module that returns several tensors (``nn.LSTM``'s ``(output, (h, c))``), sent as one.

A vertex sends one tensor. Before, a tuple was a *helper*, copied into every block that
read one of its parts, so an LSTM read by two blocks ran twice per inference. Now the
tuple is an activation of one block: that block sends its tensors flattened into one
(:func:`pack`), each reader rebuilds the tuple (:func:`unpack`) from the structure and
shapes measured on the sample image, which travel in the deployment as JSON (a pytree
spec and a list of shapes), never as code.

The shapes are those of the measured batch (one image), the batch every run sends.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch.utils import _pytree as pytree


@dataclass(frozen=True)
class Packing:
    """How to rebuild a tuple from its packed tensor: the pytree structure (JSON text)
    and each leaf's shape (None for a ``None`` leaf, such as attention weights not asked for)."""

    spec: str
    shapes: tuple[tuple[int, ...] | None, ...]

    def to_json(self) -> dict:
        return {"spec": self.spec, "shapes": [None if s is None else list(s) for s in self.shapes]}

    @classmethod
    def from_json(cls, data: dict) -> Packing:
        return cls(str(data["spec"]), tuple(None if s is None else tuple(int(d) for d in s) for s in data["shapes"]))


def packing_of(value: object) -> Packing | None:
    """The :class:`Packing` of a tuple or list of tensors of one dtype (None leaves
    allowed); None for anything else (it stays a helper)."""
    if not isinstance(value, (tuple, list)):
        return None
    leaves, spec = pytree.tree_flatten(value)
    tensors = [t for t in leaves if isinstance(t, torch.Tensor)]
    others = [t for t in leaves if t is not None and not isinstance(t, torch.Tensor)]
    if not tensors or others or len({t.dtype for t in tensors}) != 1:
        return None
    shapes = tuple(None if t is None else tuple(int(d) for d in t.shape) for t in leaves)
    return Packing(pytree.treespec_dumps(spec), shapes)


def pack(value: object) -> torch.Tensor:
    """Every tensor of ``value``, flattened and concatenated in pytree order."""
    return torch.cat([t.reshape(-1) for t in pytree.tree_leaves(value) if isinstance(t, torch.Tensor)])


@functools.lru_cache(maxsize=64)
def _spec(text: str) -> pytree.TreeSpec:
    return pytree.treespec_loads(text)


def unpack(flat: torch.Tensor, spec: str, shapes: tuple) -> object:
    """The tuple :func:`pack` flattened, from its :class:`Packing` fields."""
    sizes = [0 if s is None else int(torch.Size(s).numel()) for s in shapes]
    parts = iter(flat.split([n for n, s in zip(sizes, shapes) if s is not None]))
    leaves = [None if s is None else next(parts).view(s) for s in shapes]
    return pytree.tree_unflatten(leaves, _spec(spec))
