"""Where each vertex runs when an architecture is *run* (``--placement``).

The score partitions as the paper does (FLOPs-balanced km1); a run wants the lowest
latency on its devices, described by a :class:`~parawire.latency.model.DeviceProfile`:

* ``"partition"`` (default, the paper's method): the partitioner on the hypergraph,
  balancing the time the profile predicts per vertex;
* ``"schedule"``: that partition and HEFT, each refined against the latency model
  (:func:`parawire.latency.schedule.place`), the fastest predicted kept. It may leave units
  idle and is never predicted slower than one unit.
* ``"hybrid"`` and ``"auto"``: the high-resolution prefix may run tile-parallel
  (:mod:`parawire.pipeline.hybrid`).

Why both: a km1 partition balances load and minimises bytes but sees neither the
critical path nor the link time; on the t2.micro testbed it put DP-40 on 4 devices at
233 ms predicted (210 ms measured) where the schedule predicts 25 ms (docs/testbed.md).
The default stays the paper's, so Figure 13 measures what the paper measured.

Partitioning looks a plugin up, so it lives here, above the plugin registry; the
executor's :mod:`~parawire.executor.plan` only turns a partition into per-unit schedules.
Nothing here imports torch, so command-line options can name the choices cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from parawire.errors import ParawireError
from parawire.latency.schedule import place
from parawire.latency.wire import Wire
from parawire.registry.kinds import builtin
from parawire.registry.manager import get_plugins
from parawire.registry.records import PartitionContext
from parawire.score.hypergraph import hypergraph_of

PLACEMENTS = ("partition", "schedule", "hybrid", "auto")
"""``hybrid`` and ``auto`` may tile the high-resolution prefix, so they give a plan, not a
partition (:func:`parawire.pipeline.hybrid.choose_placement`)."""
PARTITIONS = PLACEMENTS[:2]


def check_placement(placement: str) -> str:
    """``placement`` if it names one of :data:`PLACEMENTS`, else a one-line error."""
    if placement not in PLACEMENTS:
        raise ParawireError(f"placement: got {placement!r}; use one of {', '.join(PLACEMENTS)}")
    return placement


def check_units(units: Iterable[int], vertices: int, option: str = "--units") -> None:
    """Every unit count leaves each unit at least one computation vertex, refused in one
    line naming ``option`` otherwise, instead of starting workers that get nothing. Here,
    below the command line, so ``run`` and ``score`` and the Python API
    (:func:`parawire.models.run_model`, ``option="units"``) refuse alike."""
    too_many = sorted(u for u in units if u > vertices)
    if too_many:
        raise ParawireError(
            f"{option}: got {', '.join(map(str, too_many))}; the architecture has {vertices}"
            f" computation vertices, so use at most {vertices} units"
        )


def place_architecture(
    arch, units: int, profile, placement: str = "partition", partitioner: str = builtin("multilevel"),
    eps: float = 0.03, params: dict | None = None, input_policy: str = "stem", wire: Wire | None = None,
) -> np.ndarray:
    """Vertex → unit for running ``arch`` on ``units`` devices described by ``profile``,
    crossings costing what ``wire`` says (the plan's codecs; default float32)."""
    if check_placement(placement) not in PARTITIONS:
        raise ParawireError(f"placement {placement!r} may tile the image, so it gives a plan, not a partition;"
                            " use parawire.pipeline.hybrid.choose_placement")
    part = partition_architecture(arch, units, partitioner, eps, params=params, input_policy=input_policy,
                                  profile=profile, wire=wire)
    if placement == "schedule" and units > 1:
        costs = arch.costs
        part = place(arch.dag, costs.flops, costs.out_bytes, units, profile, starts=(part,),
                     params=costs.params, input_policy=input_policy, wire=wire, scaled=costs.scaled)
    return part


def partition_architecture(
    arch, units: int, partitioner: str = builtin("multilevel"), eps: float = 0.03, seed: int | None = None,
    params: dict | None = None, input_policy: str = "stem", profile=None, free: Sequence[int] = (),
    wire: Wire | None = None,
) -> np.ndarray:
    """Vertex → unit from a partitioner plugin on the architecture's hypergraph (whose
    input net depends on ``input_policy``), balancing FLOPs, or with a ``profile`` the
    predicted time of each vertex on that device (:func:`parawire.score.hypergraph.hypergraph_of`);
    ``free`` vertices weigh nothing (they run tile-parallel, :mod:`parawire.pipeline.hybrid`)."""
    if units < 1:
        raise ParawireError(f"units: got {units}; at least 1")
    record = get_plugins().partitioners.get(partitioner)
    params = record.resolve(params)
    if units == 1:
        return np.zeros(arch.dag.graph.number_of_nodes(), dtype=np.int64)
    seed = arch.spec.seed if seed is None else seed
    hypergraph = hypergraph_of(arch, input_policy, profile, free, wire=wire)
    return record.invoke(PartitionContext(hypergraph, units, eps, seed, dag=arch.dag), params)

