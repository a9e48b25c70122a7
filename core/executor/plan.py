"""The placement plan: who runs which vertex, who sends what to whom.

Built from a DAG and a partition (vertex → unit). Decisions where the paper is silent
(its Figure 11 draws a replicated "common node" for the input and a "black unit" that
gathers the output):

* **Input policy ``"stem"`` (default): the input vertex runs on the unit the partitioner
  gave it.** The coordinator sends the image (the pseudo-vertex :data:`SOURCE`) only to
  that unit; the stem's output then travels like any other activation, once to each other
  unit that consumes it. The measured bytes between units equal the partition's Λ.
* **Input policy ``"scatter"``: the paper's common first node.** The coordinator sends
  the image to every unit holding a successor of the stem and each runs the stem itself;
  the stem's output never crosses. The hypergraph charges this policy's input net at the
  image's bytes (``parawire.score.hypergraph``), so Λ = bytes between workers + the image copies
  beyond the first. On a slow link this wins when the stem's output is larger than the
  image (224 px: 3.2 MB against 0.6 MB) and the stem feeds several units.
* **The output vertex (aggregation + classifier) runs on the unit that holds it**, not
  on the coordinator: its inputs then cross the network exactly as the hypergraph counts
  them, and only the logits (``classes`` floats) go back to the coordinator. The
  coordinator is the "black unit" only in that it gathers the logits.

The plan is a pydantic model, so it travels to workers as JSON inside ``DEPLOY``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
from parawire.errors import ParawireError
from parawire.executor.protocol import SOURCE
from parawire.graph.dag import Dag
from parawire.latency.model import simulate
from parawire.pipeline.wire import CodecCost, wire_of
from parawire.registry.codecs import RAW_PLAN, CodecChoice, CodecPlan
from parawire.score.hypergraph import check_input_policy, image_bytes
from pydantic import BaseModel, ConfigDict


class Tiling(BaseModel):
    """A hybrid placement's tiled prefix (:mod:`parawire.executor.tiles` builds it).

    Units ``0 .. rows·cols − 1`` each run every vertex of ``tiled`` on their tile of the
    image (tile ``t`` on unit ``t``, row-major) plus its halo (:mod:`parawire.network.halo`),
    receiving ``crops[t]`` of the image (rows ``[r0, r1)``, columns ``[c0, c1)``), in
    stages of ``depth`` levels (None: one stage). Each stage's ``parts`` are plan vertices
    numbered from ``first_piece`` in list order, ``(map, source tile, destination tile)``:
    a destination None is the source's own region of the map (kept for its later stages,
    and sent as a *piece* of a ``frontier`` map to the units of ``gathers[f]``, which put
    map ``f`` together for the untiled vertices they hold); otherwise the halo that the
    destination's later stages read of it. When the output vertex is tiled (``reduced``)
    its pieces are partial sums, added on unit 0.
    """

    model_config = ConfigDict(frozen=True)

    rows: int
    cols: int
    threshold: int
    tiled: list[int]
    frontier: list[int]
    crops: list[tuple[int, int, int, int]]
    gathers: dict[int, list[int]]
    first_piece: int
    depth: int | None = None
    parts: list[tuple[int, int, int | None]] = []
    preds: dict[int, list[int]] = {}
    """The tiled vertices' inputs (the DAG inside the prefix; the unit plans hold parts
    instead), so that a worker can estimate its memory before generating the spec."""

    @property
    def tiles(self) -> int:
        return self.rows * self.cols

    def part(self, key: tuple[int, int, int | None]) -> int:
        """Plan vertex of the part ``(map, source tile, destination)``."""
        return self.first_piece + self._index[key]

    def piece(self, index: int, tile: int) -> int:
        """Plan vertex of tile ``tile``'s part of ``frontier[index]``."""
        return self.part((self.frontier[index], tile, None))

    @functools.cached_property
    def _index(self) -> dict[tuple[int, int, int | None], int]:
        return {tuple(key): i for i, key in enumerate(self.parts)}  # type: ignore[misc]


class UnitPlan(BaseModel):
    """What one unit runs.

    ``preds[v]`` lists v's inputs in the order its block takes them (``dag.preds[v]``;
    ``[SOURCE]`` for the input vertex). ``sends[v]`` lists the *other* units that consume
    v's output, each once, however many of its vertices use it.
    """

    model_config = ConfigDict(frozen=True)

    unit: int
    vertices: list[int]
    preds: dict[int, list[int]]
    sends: dict[int, list[int]]
    receives: dict[int, int]
    tiling: Tiling | None = None
    """Under a hybrid placement, the plan's tiling (the unit's pieces and gathers are among its vertices)."""


class Plan(BaseModel):
    """The whole placement: one :class:`UnitPlan` per unit plus what the coordinator does."""

    model_config = ConfigDict(frozen=True)

    units: int
    partition: list[int]
    output_vertex: int
    input_units: list[int]
    output_unit: int
    unit_plans: list[UnitPlan]
    input_policy: str = "stem"
    scattered_input: int | None = None
    """Under the ``"scatter"`` policy: the input vertex, run by every unit of ``input_units``."""
    cut_bytes: int | None = None
    predicted_latency_s: float | None = None
    tiling: Tiling | None = None
    """Under a hybrid placement: the tiled prefix; ``partition`` then also maps each piece to its tile's unit."""
    codecs: CodecPlan = RAW_PLAN
    """How each crossing travels: one codec for all, or per vertex output (workers encode
    on send and decode on arrival; ``cut_bytes`` counts the encoded bytes). Under a
    tiling a part (a piece or a halo) travels through its map's codec (:meth:`codec_of`); the
    crops are the image, always float32."""

    def codec_of(self, vertex: int) -> CodecChoice:
        """The codec a message of plan vertex ``vertex`` goes through (a part: its map's)."""
        t = self.tiling
        if t is not None and vertex >= t.first_piece:
            vertex = t.parts[vertex - t.first_piece][0]
        return self.codecs.of(vertex)

    @property
    def vertices(self) -> int:
        return len(self.partition)

    def vertices_of(self, unit: int) -> list[int]:
        """The vertices ``unit`` runs, ascending: its part of the partition, except that a
        scattered input vertex runs on exactly the input units."""
        stem, tiling = self.scattered_input, self.tiling
        if tiling is not None:  # tiled vertices run inside the tile units' pieces; gathers where needed
            tiled = set(tiling.tiled)
            return [v for v, p in enumerate(self.partition)
                    if (unit in tiling.gathers.get(v, ()) if v in tiled else p == unit)]
        return [v for v, p in enumerate(self.partition)
                if (unit in self.input_units if v == stem else p == unit)]

    def input_of(self, unit: int, x):
        """What the coordinator sends ``unit`` of an input batch ``x``: all of it, or under a
        tiling the unit's crop of the image."""
        if self.tiling is None:
            return x
        r0, r1, c0, c1 = self.tiling.crops[unit]
        return x[..., r0:r1, c0:c1].contiguous()

    @classmethod
    def build(
        cls,
        dag: Dag,
        partition: Sequence[int] | np.ndarray,
        *,
        out_bytes: Sequence[int] | np.ndarray | None = None,
        predicted_latency_s: float | None = None,
        units: int | None = None,
        input_policy: str = "stem",
        image_bytes: int | None = None,
        codecs: CodecPlan = RAW_PLAN,
    ) -> Plan:
        """Derive per-unit schedules; ``out_bytes`` (per vertex, as one crossing sends it
        under ``codecs``) gives ``cut_bytes`` = Λ, which under the ``"scatter"`` input
        policy also needs ``image_bytes`` (the image always travels raw)."""
        scatter = check_input_policy(input_policy) == "scatter"
        part = np.asarray(partition, dtype=np.int64)
        n = dag.graph.number_of_nodes()
        if part.shape != (n,):
            raise ParawireError(f"partition has {part.size} entries; the DAG has {n} vertices")
        k = int(units if units is not None else part.max() + 1)
        if part.min() < 0 or part.max() >= k:
            raise ParawireError(f"partition uses units {part.min()}..{part.max()}; allowed 0..{k - 1}")
        order, stem = dag.order, dag.input
        sends = {v: sorted({int(part[s]) for s in dag.succs[v]} - {int(part[v])}) for v in order}
        input_units = [int(part[stem])]
        if scatter:  # every unit that consumes the stem runs its own copy
            input_units = sorted({int(part[s]) for s in dag.succs[stem]})
            sends[stem] = []
        plans = []
        for u in range(k):
            mine = [v for v in order if (u in input_units if v == stem and scatter else part[v] == u)]
            preds = {v: list(dag.preds[v]) or [SOURCE] for v in mine}
            receives = {p: int(part[p]) for v in mine for p in dag.preds[v]
                        if part[p] != u and not (scatter and p == stem)}
            plans.append(
                UnitPlan(
                    unit=u,
                    vertices=mine,
                    preds=preds,
                    sends={v: sends[v] for v in mine if sends[v]},
                    receives=dict(sorted(receives.items())),
                )
            )
        cut = None
        if out_bytes is not None:
            if scatter and image_bytes is None:
                raise ParawireError("input policy 'scatter': give image_bytes to count Λ")
            ob = np.asarray(out_bytes, dtype=np.int64)
            cut = int(sum(int(ob[v]) * len(sends[v]) for v in order))
            if scatter:
                cut += int(image_bytes) * (len(input_units) - 1)
        return cls(
            units=k,
            partition=[int(p) for p in part],
            output_vertex=dag.output,
            input_units=input_units,
            output_unit=int(part[dag.output]),
            unit_plans=plans,
            input_policy=input_policy,
            scattered_input=stem if scatter else None,
            cut_bytes=cut,
            predicted_latency_s=predicted_latency_s,
            codecs=codecs,
        )


def plan_for(
    arch, partition: Sequence[int] | np.ndarray, profile=None, units: int | None = None,
    input_policy: str = "stem", codecs: CodecPlan = RAW_PLAN,
    cost: Callable[[CodecChoice], CodecCost] | None = None,
) -> Plan:
    """The plan of an :class:`~parawire.network.architecture.Architecture`, with Λ from its costs
    (encoded by ``codecs``) and, when a :class:`~parawire.latency.model.DeviceProfile` is given,
    the latency model's prediction (with each codec's calibrated ``cost``)."""
    wire = wire_of(arch, codecs, cost)
    predicted = None
    if profile is not None:
        predicted = float(
            simulate(arch.dag, arch.costs.flops, arch.costs.out_bytes, np.asarray(partition), profile,
                     policy="ready", input_policy=input_policy, params=arch.costs.params, wire=wire,
                     scaled=arch.costs.scaled)
        )
    return Plan.build(
        arch.dag, partition, out_bytes=wire.bytes, predicted_latency_s=predicted, units=units,
        input_policy=input_policy, image_bytes=image_bytes(arch), codecs=codecs,
    )
