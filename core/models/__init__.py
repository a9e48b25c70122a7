"""Import any traceable ``torch.nn.Module``: trace it, score its concurrency, run it
distributed (docs/models.md).

>>> from parawire.models import import_model
>>> m = import_model({"factory": "parawire.models.examples:inception", "input_shape": [3, 32, 32]})
>>> m.dag, m.costs          # what score_architecture, plan_for, partition_architecture take

Names are loaded on first use, so ``parawire score SPEC_FILE`` never imports torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ImportedModel": "parawire.models.imported",
    "ModelSpec": "parawire.models.imported",
    "import_model": "parawire.models.imported",
    "build_model": "parawire.models.factory",
    "load_factory": "parawire.models.factory",
    "run_model": "parawire.models.run",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    if name not in _EXPORTS:
        raise AttributeError(f"module 'parawire.models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
