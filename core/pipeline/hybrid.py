"""Choosing a placement by the latency model: partition, schedule, or tiles + partition.

``--placement hybrid`` searches, by :func:`parawire.latency.tiles.hybrid_latency` end to
end (the crops' delivery and the logits' return included), over

* the **threshold**: every map height of the network (the tiled prefix is every vertex
  with at least that many rows, :mod:`parawire.network.halo`);
* the **tile grid**: every ``rows × cols`` with 2 to ``units`` tiles (1×k, k×1, 2×2,
  2×3, …) that fits the shared maps, on units ``0 .. rows·cols − 1``;
* the **stage depth** (:data:`DEPTHS`): one fused stage, or halos exchanged every 1, 2
  or 4 levels;
* the **untiled vertices**: everything on unit 0, or (when there are at least as many
  as units) the partitioner's placement of them over all units, the tiled vertices
  weighing nothing;

and keeps the fastest, against two placements without tiles on the same scale: the
partition (``--placement partition``) and **one device**. So a network whose
high-resolution maps feed many low-resolution vertices (the gather then moves them all)
gets "no tiling" or "one device", and is predicted no slower than one device.
``--placement auto`` is the fastest predicted of partition, schedule and hybrid. Both
keep one device unless the model predicts the devices :data:`MIN_GAIN` times faster (a
smaller gain is inside the model's error).

The plan's codecs count everywhere the search looks: the untiled vertices' messages,
and the pieces of the gather at the threshold (a piece travels through its map's codec;
the crops stay float32), so a codec that shrinks the gather can make a lower threshold
or a tiling worth it.

Why the model decides: the bound in docs/testbed.md (a stem output of 3.2 MB is 269 ms
per crossing at 100 Mbit/s) depends on the network, the grid and the device profile
together; no fixed rule picks well for all of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from parawire.errors import ParawireError
from parawire.latency.model import DeviceProfile, simulate
from parawire.latency.tiles import hybrid_latency
from parawire.latency.wire import Wire
from parawire.network.halo import TileGrid
from parawire.pipeline.placement import partition_architecture, place_architecture
from parawire.pipeline.wire import CodecCost, parts_wire, raw_plan, wire_of
from parawire.registry.codecs import RAW_PLAN, CodecChoice, CodecPlan
from parawire.registry.kinds import builtin
from parawire.score.hypergraph import image_bytes


@dataclass(frozen=True)
class Choice:
    """A placement: untiled vertices' ``partition``, the tiling (None: none) and the
    model's end-to-end prediction."""

    placement: str
    partition: np.ndarray
    grid: TileGrid | None
    predicted_s: float


DEPTHS = (None, 1, 2, 4)
"""Stage depths the search tries (levels per stage; None: one fused stage). Deep stages
recompute wide halos, shallow ones exchange more messages; which wins depends on the
network and the link, so the model decides among these."""


def grids(units: int) -> list[tuple[int, int]]:
    """Every ``rows × cols`` grid of 2 to ``units`` tiles."""
    return [(r, d // r) for d in range(2, units + 1) for r in range(1, d + 1) if d % r == 0]


def untiled_choice(arch, placement: str, partition: np.ndarray, profile: DeviceProfile,
                   input_policy: str = "stem", wire: Wire | None = None) -> Choice:
    """A placement without tiles, with its end-to-end prediction (crossings as ``wire``
    says: the plan's codecs, default float32)."""
    costs = arch.costs
    predicted = simulate(arch.dag, costs.flops, costs.out_bytes, partition, profile, policy="ready",
                         input_policy=input_policy, source_bytes=image_bytes(arch), params=costs.params,
                         wire=wire, scaled=costs.scaled)
    return Choice(placement, partition, None, float(predicted))


def one_device(arch, profile: DeviceProfile, input_policy: str = "stem") -> Choice:
    """Everything on unit 0, with its end-to-end prediction (nothing crosses)."""
    zeros = np.zeros(arch.dag.graph.number_of_nodes(), dtype=np.int64)
    return untiled_choice(arch, "hybrid", zeros, profile, input_policy)


def hybrid_choice(arch, units: int, profile: DeviceProfile, partitioner: str = builtin("multilevel"), eps: float = 0.03,
                  params: dict | None = None, input_policy: str = "stem", codecs: CodecPlan = RAW_PLAN,
                  cost: Callable[[CodecChoice], CodecCost] | None = None) -> Choice:
    """The fastest predicted tiling (or none, or one device) on ``units`` devices (module
    docstring), every crossing through ``codecs`` at their calibrated ``cost``."""
    n = arch.dag.graph.number_of_nodes()
    one = np.zeros(n, dtype=np.int64)
    wire = None if raw_plan(codecs) else wire_of(arch, codecs, cost)
    best = one_device(arch, profile, input_policy)
    if units == 1:
        return best
    part = partition_architecture(arch, units, partitioner, eps, params=params, input_policy=input_policy,
                                  profile=profile, wire=wire)
    best = min(best, untiled_choice(arch, "hybrid", part, profile, input_policy, wire), key=lambda c: c.predicted_s)
    for threshold in arch.tile_thresholds():
        residuals = None
        for (rows, cols), depth in itertools.product(grids(units), DEPTHS):
            try:
                grid = arch.tile_grid(rows, cols, threshold, depth)
            except ParawireError:  # the grid does not fit this threshold's maps
                continue
            if residuals is None:  # a partition of fewer untiled vertices than units is not worth asking for
                spread = n - len(grid.tiled) >= units
                residuals = (one, *([partition_architecture(arch, units, partitioner, eps, params=params,
                                                            profile=profile, free=grid.tiled, wire=wire)]
                                    if spread else []))
            pieces = None if wire is None else parts_wire(arch, grid, codecs, cost)
            for rest in residuals:
                predicted = hybrid_latency(arch, grid, rest, profile, source=True, wire=wire, pieces=pieces)
                if predicted < best.predicted_s:
                    best = Choice("hybrid", rest, grid, float(predicted))
    return best


MIN_GAIN = 1.15
"""How much faster than one device the model must predict a placement on several devices
before ``hybrid`` or ``auto`` takes it; below that they say "one device". Why: the model's
error on the testbed is up to 15 % per point (issue 28's bound; docs/latency.md), so a
smaller predicted gain cannot be told from its error, and the devices then cost more than
they give: at 224 px WS-40 on 4 devices, tiled on a predicted 4–9 % gain, measured 0.82
and 0.94× one device. ``partition`` and ``schedule`` use every device they are given."""


def choose_placement(arch, units: int, profile: DeviceProfile, placement: str = "auto",
                     partitioner: str = builtin("multilevel"), eps: float = 0.03, params: dict | None = None,
                     input_policy: str = "stem", codecs: CodecPlan = RAW_PLAN,
                     cost: Callable[[CodecChoice], CodecCost] | None = None, min_gain: float = MIN_GAIN) -> Choice:
    """``placement`` on ``units`` devices: ``partition``, ``schedule``, ``hybrid``, or the
    fastest predicted of the three (``auto``), every crossing (pieces of a tiling
    included) through ``codecs`` at their calibrated ``cost``. ``hybrid`` and ``auto``
    keep one device unless the best predicted on several is ``min_gain`` times faster
    (:data:`MIN_GAIN`)."""
    if placement in ("partition", "schedule"):
        wire = None if raw_plan(codecs) else wire_of(arch, codecs, cost)
        part = place_architecture(arch, units, profile, placement, partitioner, eps, params, input_policy, wire=wire)
        return untiled_choice(arch, placement, part, profile, input_policy, wire)
    if placement not in ("hybrid", "auto"):
        raise ParawireError(f"placement: got {placement!r}; use one of partition, schedule, hybrid, auto")
    if not min_gain >= 1:
        raise ParawireError(f"min_gain: got {min_gain!r}; give a factor ≥ 1 (1: any predicted gain)")
    choices = [choose_placement(arch, units, profile, p, partitioner, eps, params, input_policy, codecs, cost)
               for p in ("partition", "schedule")] if placement == "auto" else []
    choices.append(hybrid_choice(arch, units, profile, partitioner, eps, params, input_policy, codecs, cost))
    best = min(choices, key=lambda c: c.predicted_s)
    one = one_device(arch, profile, input_policy)
    return best if best.predicted_s * min_gain <= one.predicted_s else one
