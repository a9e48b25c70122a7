"""Mt-KaHyPar as a parawire partitioner (``mtkahypar``), for reference-quality km1.

Mt-KaHyPar aborts the whole process (no Python exception) on some inputs, so this
wrapper never hands it any of them:

* it is initialised once per process, with one thread (a second ``initialize`` or a
  missing one is fatal; one thread also makes a seeded run reproducible);
* vertex weights of 0 (input/output vertices) and weights above its 32-bit range are
  rescaled to 1..2^20 in total; nets of cost 0 are left out, costs are rescaled to
  at most 2^20 each;
* k = 1 and k ≥ |V| are answered without calling it.

Rescaled weights only approximate the true ones, so the result is checked against the
true limit (1+ε)·⌈W/k⌉, repaired by parawire's shared least-damage moves if needed, and
an :class:`parawire.metrics.ImbalanceWarning` is issued if it still fails.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
from parawire.plugin import (
    Hypergraph,
    PartitionerPlugin,
    check_args,
    hookimpl,
    repaired,
    trivial_partition,
)
from pydantic import BaseModel, ConfigDict

RANGE = 2**20


class MtKaHyParParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preset: Literal["default", "quality", "highest_quality"] = "highest_quality"


@lru_cache(maxsize=1)
def initializer():
    """The one Mt-KaHyPar initialiser of this process."""
    import mtkahypar

    return mtkahypar.initialize(1, False)


@lru_cache(maxsize=3)
def _preset(name: str):
    import mtkahypar

    return {
        "default": mtkahypar.PresetType.DEFAULT,
        "quality": mtkahypar.PresetType.QUALITY,
        "highest_quality": mtkahypar.PresetType.HIGHEST_QUALITY,
    }[name]


def scaled_weights(weights: np.ndarray) -> np.ndarray:
    """Positive int32-safe vertex weights proportional to the true ones."""
    total = int(weights.sum())
    if total == 0:
        return np.ones_like(weights)
    scale = min(1.0, RANGE / total)
    return np.maximum(np.rint(weights * scale), 1).astype(np.int64)


def partition(
    hypergraph: Hypergraph, k: int, eps: float, seed: int, params: MtKaHyParParams | None = None
) -> np.ndarray:
    import mtkahypar

    params = params or MtKaHyParParams()
    check_args(hypergraph, k, eps)
    fixed = trivial_partition(hypergraph, k)
    if fixed is not None:
        return fixed
    init = initializer()
    context = init.context_from_preset(_preset(params.preset))
    context.set_partitioning_parameters(int(k), float(eps), mtkahypar.Objective.KM1)
    context.logging = False
    mtkahypar.set_seed(int(seed) % 2**31)
    costs = hypergraph.net_costs
    used = np.flatnonzero(costs > 0)
    top = int(costs.max()) if costs.size else 0
    scaled = costs[used] if top <= RANGE else np.maximum(np.rint(costs[used] / top * RANGE), 1)
    nets = [hypergraph.pins(int(e)).tolist() for e in used]
    hg = init.create_hypergraph(
        context,
        hypergraph.num_vertices,
        len(nets),
        nets,
        scaled_weights(hypergraph.vertex_weights).tolist(),
        np.asarray(scaled, dtype=np.int64).tolist(),
    )
    result = hg.partition(context)
    parts = np.fromiter(
        (result.block_id(v) for v in range(hypergraph.num_vertices)),
        dtype=np.int64,
        count=hypergraph.num_vertices,
    )
    return repaired(hypergraph, k, eps, parts, "mtkahypar")


@hookimpl
def parawire_partitioners():
    return [
        PartitionerPlugin(
            name="mtkahypar",
            summary="Mt-KaHyPar (km1), the quality reference; presets default/quality/highest_quality",
            params=MtKaHyParParams,
            partition=partition,
        )
    ]
