"""Import any traceable ``torch.nn.Module``: trace it, score its concurrency, run it
distributed (docs/models.md).

>>> from parawire.models import import_model
>>> m = import_model({"factory": "parawire.models.examples:inception", "input_shape": [3, 32, 32]})
>>> m.dag, m.costs          # what score_architecture, plan_for, partition_architecture take
"""

from parawire.models.factory import build_model, load_factory
from parawire.models.imported import ImportedModel, ModelSpec, import_model

__all__ = ["ImportedModel", "ModelSpec", "build_model", "import_model", "load_factory"]
