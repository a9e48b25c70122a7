"""Where each vertex runs when an architecture is *run* (``--placement``).

The score partitions as the paper does (FLOPs-balanced km1); a run wants the lowest
latency on its devices, described by a :class:`~parawire.latency.DeviceProfile`:

* ``"partition"`` (default, the paper's method): the partitioner on the hypergraph,
  balancing the time the profile predicts per vertex;
* ``"schedule"``: that partition and HEFT, each refined against the latency model
  (:func:`parawire.schedule.place`), the fastest predicted kept. It may leave units
  idle and is never predicted slower than one unit.

Why both: a km1 partition balances load and minimises bytes but sees neither the
critical path nor the link time; on the t2.micro testbed it put DP-40 on 4 devices at
233 ms predicted (210 ms measured) where the schedule predicts 25 ms (docs/testbed.md).
The default stays the paper's, so Figure 13 measures what the paper measured.

Kept out of :mod:`parawire.executor.plan` so that command-line options can name the
choices without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from parawire.errors import ParawireError

if TYPE_CHECKING:
    import numpy as np

PLACEMENTS = ("partition", "schedule")


def check_placement(placement: str) -> str:
    """``placement`` if it names one of :data:`PLACEMENTS`, else a one-line error."""
    if placement not in PLACEMENTS:
        raise ParawireError(f"placement: got {placement!r}; use one of {', '.join(PLACEMENTS)}")
    return placement


def place_architecture(
    arch, units: int, profile, placement: str = "partition", partitioner: str = "multilevel",
    eps: float = 0.03, params: dict | None = None, input_policy: str = "stem",
) -> np.ndarray:
    """Vertex → unit for running ``arch`` on ``units`` devices described by ``profile``."""
    from parawire.executor.plan import partition_architecture

    check_placement(placement)
    part = partition_architecture(arch, units, partitioner, eps, params=params, input_policy=input_policy,
                                  profile=profile)
    if placement == "schedule" and units > 1:
        from parawire.schedule import place

        costs = arch.costs
        part = place(arch.dag, costs.flops, costs.out_bytes, units, profile, starts=(part,),
                     params=costs.params, input_policy=input_policy)
    return part
