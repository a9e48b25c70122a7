"""Mt-KaHyPar as a parawire partitioner (``mtkahypar``), for reference-quality km1.

Mt-KaHyPar aborts the whole process (no Python exception) on some inputs, so this
wrapper never hands it any of them:

* it is initialised once per process, with one thread (a second ``initialize`` or a
  missing one is fatal), and by default each call runs in a forked child in which it
  never ran before (see :func:`_in_child`: its state leaks across calls otherwise,
  and then the same seed stops giving the same partition);
* vertex weights of 0 (input/output vertices) and weights above its 32-bit range are
  rescaled to 1..2^20 in total; nets of cost 0 are left out, costs are rescaled to
  at most 2^20 each;
* k = 1 and k ≥ |V| are answered without calling it.

Rescaled weights only approximate the true ones, so the result is checked against the
true limit (1+ε)·⌈W/k⌉, repaired by parawire's shared least-damage moves if needed, and
an :class:`parawire.score.metrics.ImbalanceWarning` is issued if it still fails.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

import numpy as np
import parawire.plugin as plugin
from parawire.plugin import Hypergraph, ParawireError, PartitionerPlugin, hookimpl
from pydantic import BaseModel, ConfigDict, Field

RANGE = 2**20


class MtKaHyParParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preset: Literal["default", "quality", "highest_quality"] = "highest_quality"
    isolate: bool = Field(True, description="run each call in a forked child: same seed, same"
                          " partition whatever ran before (in-process state leaks across calls)")


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
    params = params or MtKaHyParParams()
    # parawire's own checks and repair, looked up here: importing them loads numba kernels
    # (0.35 s) that a process loading the plugins without partitioning should not pay
    plugin.check_args(hypergraph, k, eps)
    fixed = plugin.trivial_partition(hypergraph, k, eps, "mtkahypar")
    if fixed is not None:
        return fixed
    run = _in_child if params.isolate else _mtkahypar_parts
    parts = run(hypergraph, k, eps, seed, params.preset)
    return plugin.repaired(hypergraph, k, eps, parts, "mtkahypar")


def _in_child(hypergraph: Hypergraph, k: int, eps: float, seed: int, preset: str) -> np.ndarray:
    """:func:`_mtkahypar_parts` in a forked child that has never run Mt-KaHyPar.

    Mt-KaHyPar keeps state across calls in a process that ``set_seed`` does not reset:
    measured at 1000 vertices, the same call with the same seed gave a different
    partition every time it was repeated in one process, and the same one in every
    fresh process. A child forked per call starts from the parent's state, in which
    Mt-KaHyPar never ran; it sends the parts back as raw int64 bytes through a pipe
    (no pickle). A side benefit: an input that makes Mt-KaHyPar abort kills only the
    child, and the caller gets a one-line error instead of losing the process.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: compute, write, leave without running the parent's atexit
        status = 1
        try:
            os.close(read_end)
            data = _mtkahypar_parts(hypergraph, k, eps, seed, preset).astype(np.int64).tobytes()
            with os.fdopen(write_end, "wb") as out:
                out.write(data)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    parts = np.frombuffer(data, dtype=np.int64)
    if status != 0 or parts.size != hypergraph.num_vertices:
        raise ParawireError(
            f"mtkahypar: the Mt-KaHyPar child process failed (wait status {status}) on"
            f" {hypergraph.num_vertices} vertices, k={k}; try another partitioner"
            " (--partitioner multilevel)"
        )
    return parts.copy()


def _mtkahypar_parts(
    hypergraph: Hypergraph, k: int, eps: float, seed: int, preset: str
) -> np.ndarray:
    """Mt-KaHyPar's own answer (k < |V|, every guard applied), before any repair."""
    import mtkahypar

    init = initializer()
    context = init.context_from_preset(_preset(preset))
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
    return np.fromiter(
        (result.block_id(v) for v in range(hypergraph.num_vertices)),
        dtype=np.int64,
        count=hypergraph.num_vertices,
    )


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
