"""Per-epoch checkpoints: safetensors for tensors, one small JSON that commits them.

Layout of a checkpoint folder after epoch ``e`` (1-based):

* ``model-000e.safetensors`` — the model's ``state_dict`` (weights and BN statistics);
* ``optimizer-000e.safetensors`` — SGD's momentum buffers, one tensor per parameter, keyed
  by the parameter's position in ``model.parameters()``;
* ``checkpoint.json`` — epoch, seed, schedule, per-epoch history and the file names.

The JSON is written last and atomically (temporary file + ``os.replace``), so it always
names a complete pair of tensor files: a run killed at any moment resumes from its last
finished epoch and loses at most the one in progress. No pickle anywhere; the RNG state
needs no saving because every epoch seeds its own generators from ``(seed, epoch)``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from parawire.errors import ParawireError
from safetensors.torch import load_file, save_file

INDEX = "checkpoint.json"
FORMAT = 1


def save_checkpoint(
    folder: Path, epoch: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer, meta: dict[str, Any]
) -> None:
    """Write epoch ``epoch``'s tensors, then commit them by replacing the index."""
    folder.mkdir(parents=True, exist_ok=True)
    model_file, optim_file = f"model-{epoch:04d}.safetensors", f"optimizer-{epoch:04d}.safetensors"
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(folder / model_file))
    buffers = {}
    for i, p in enumerate(model.parameters()):
        buf = optimizer.state.get(p, {}).get("momentum_buffer")
        if buf is not None:
            buffers[f"momentum_buffer.{i}"] = buf.detach().contiguous().clone()
    save_file(buffers, str(folder / optim_file))
    index = {"format": FORMAT, "epoch": epoch, "model": model_file, "optimizer": optim_file, **meta}
    tmp = folder / (INDEX + ".tmp")
    tmp.write_text(json.dumps(index, indent=2) + "\n")
    os.replace(tmp, folder / INDEX)
    for old in folder.glob("*.safetensors"):
        if old.name not in (model_file, optim_file):
            old.unlink()


def read_index(folder: Path) -> dict[str, Any] | None:
    """The committed index of ``folder``, or None when there is no checkpoint yet."""
    path = folder / INDEX
    if not path.exists():
        return None
    try:
        index = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ParawireError(f"{path}: not valid JSON ({exc}); delete the folder to start afresh") from None
    if index.get("format") != FORMAT:
        raise ParawireError(f"{path}: checkpoint format {index.get('format')!r}, expected {FORMAT}")
    return index


def load_checkpoint(
    folder: Path, index: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> None:
    """Restore the weights and momentum buffers that ``index`` names."""
    try:
        state = load_file(str(folder / index["model"]))
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ParawireError(f"{folder}: checkpoint does not fit this model ({first})") from None
    buffers = load_file(str(folder / index["optimizer"]))
    for i, p in enumerate(model.parameters()):
        buf = buffers.get(f"momentum_buffer.{i}")
        if buf is not None:
            optimizer.state[p]["momentum_buffer"] = buf.clone()
