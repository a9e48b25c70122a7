"""Accuracy of a codec plan, measured, and ``--codec auto``: the fastest plan the latency
model finds among those that keep the top-1 predictions.

A lossy codec changes what the network computes, so it is never assumed harmless: a
plan is checked on a calibration set first, in one process, with each crossing of the
plan encoded and decoded exactly as the workers do it (remote consumers get the
decoded tensor, local ones the computed one, one image at a time as a worker sends
it; under a tiling each unit gathers a frontier map from its own piece and the others'
decoded ones). The measure is the share of inputs whose top-1 class changes against
the exact network (and the largest logit difference).

``auto`` builds one candidate plan per level of loss (exact: ``raw`` or ``zstd`` over
it; half: adds ``fp16``; 8-bit: adds ``int8``), each crossing taking the codec of its
level that the model says crosses fastest (encode + message + decode on the profile),
places the network for that plan's bytes (any placement: the caller's ``place``, tiles
included; a compressor's bytes measured on the network's own activations,
:func:`place_sized`), predicts it end to end, and keeps the fastest plan whose check stays within
the bound. Exact plans need no check. ``bf16`` is left out:
same bytes as ``fp16``, fewer mantissa bits, no range the activations need.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from parawire.executor.plan import Plan
from parawire.executor.tiles import predicted_s
from parawire.latency.schedule import crossing_s
from parawire.network.tiled import merge, run_tiles
from parawire.network.nn import ArchitectureNet
from parawire.pipeline.wire import CodecCost, wire_of
from parawire.registry.codecs import MAX_SIZE_RATIO, RAW, CodecChoice, CodecPlan, exact_plan, get_codec

LEVELS: tuple[tuple[str, tuple[CodecChoice, ...]], ...] = (
    ("exact", (RAW, CodecChoice(name="zstd"))),
    ("half", (CodecChoice(name="fp16"), CodecChoice(name="zstd", params={"inner": "fp16"}))),
    ("8-bit", (CodecChoice(name="int8"), CodecChoice(name="zstd", params={"inner": "int8"}))),
)
DEFAULT_MAX_TOP1_CHANGE = 0.005


@dataclass(frozen=True)
class Accuracy:
    """A plan's outputs against the exact network's on ``inputs`` images. ``classes``: the
    distinct top-1 classes of the exact network on them. A generated network with
    untrained weights gives one class for every calibration image (all of
    Figure 13's and the main job's do, measured on 32): its logits hardly depend on the
    image (two images move them 1 % of their scale), so top-1 agreement cannot show what a
    lossy codec costs, and :attr:`weak` says so."""

    inputs: int
    max_abs_diff: float
    top1_agreement: float
    classes: int

    @property
    def weak(self) -> str | None:
        """A one-line caveat when top-1 agreement cannot tell codecs apart, else None."""
        if self.classes > 1:
            return None
        return (f"the exact network gives one top-1 class for all {self.inputs} check inputs (untrained"
                f" weights?), so top-1 agreement cannot show a lossy codec's cost; check a trained network")

    def to_dict(self) -> dict:
        return asdict(self)


def calibration_set(input_shape, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` images of ``input_shape`` (standard normal, seeded): the checks' inputs."""
    return torch.randn(n, *input_shape, generator=torch.Generator().manual_seed(seed))


def compare(reference: torch.Tensor, logits: torch.Tensor) -> Accuracy:
    same = (reference.argmax(-1) == logits.argmax(-1)).double().mean()
    return Accuracy(len(reference), float((reference - logits).abs().max()), float(same),
                    len(reference.argmax(-1).unique()))


def exact_logits(net, xs: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([net(x[None].clone()) for x in xs])  # inputs a forward may change in place


def coded_logits(arch, net, partition, codecs: CodecPlan, xs: torch.Tensor, tiling=None,
                 ratios: dict[int, list[float]] | None = None) -> torch.Tensor:
    """Logits of the network with every crossing of ``partition`` through its codec;
    ``tiling`` (a plan's :class:`~parawire.executor.plan.Tiling`): its prefix runs per tile
    on the tile's crop, each stage reading its neighbours' halos through their map's
    codec, and each unit gathering a frontier map gets the other tiles' pieces so too.
    ``ratios`` (filled when given): per crossing vertex, each of its frames' bytes over
    the codec's expected ``encoded_bytes`` for that tensor."""
    dag = arch.dag
    part = np.asarray(partition)[: dag.graph.number_of_nodes()]
    grid = None if tiling is None else arch.tile_grid(tiling.rows, tiling.cols, tiling.threshold, tiling.depth)
    inside, frontier = (set(), set()) if grid is None else (set(grid.tiled), set(grid.frontier))
    shared = set() if grid is None else {p.map for p in grid.parts if p.dst is not None}
    crossing = {v: get_codec(codecs.of(v)) for v in dag.order
                if not codecs.of(v).raw and (v in frontier or v in shared
                                             or any(part[w] != part[v] for w in dag.succs[v]))}

    def through(v: int, out: torch.Tensor) -> torch.Tensor:
        codec = crossing.get(v)
        if codec is None:
            return out
        shape = tuple(out.shape)
        frame = memoryview(codec.encode(out)).cast("B")
        if ratios is not None:
            ratios.setdefault(v, []).append(frame.nbytes / max(codec.encoded_bytes(out.dtype, shape), 1))
        return codec.decode(frame, out.dtype, shape)

    rows = []
    with torch.inference_mode():
        for x in xs:
            local, remote, gathered = {}, {}, {}
            if grid is not None:
                parts = run_tiles(net, grid, x[None], through)
                for f in grid.frontier:
                    pieces = [parts[f, t, None] for t in range(grid.tiles)]
                    sent = [through(f, p) for p in pieces]
                    for u in tiling.gathers[f]:
                        gathered[f, u] = merge(net, grid, f, [p if t == u else sent[t] for t, p in enumerate(pieces)])
            for v in dag.order:
                if v in inside:
                    continue
                u = part[v]
                inputs = [gathered[p, u] if p in inside else (remote if part[p] != u and p in remote else local)[p]
                          for p in dag.preds[v]]
                local[v] = net.blocks[str(v)](inputs or [x[None]])
                if v in crossing:
                    remote[v] = through(v, local[v])
            rows.append(gathered[dag.output, 0] if grid is not None and grid.reduced else local[dag.output])
    return torch.cat(rows)


SIZE_IMAGES = 4
"""Calibration images a data-dependent codec's sizes are measured on (:func:`place_sized`)."""


def vertex_outputs(arch, net, xs: torch.Tensor) -> list[dict[int, torch.Tensor]]:
    """Every vertex's output for each image of ``xs``, in one exact process; none for a
    network that is not one of parawire's (an imported model)."""
    if not isinstance(net, ArchitectureNet):
        return []
    dag = arch.dag
    found = []
    with torch.inference_mode():
        for x in xs:
            values: dict[int, torch.Tensor] = {}
            for v in dag.order:
                values[v] = net.blocks[str(v)]([values[p] for p in dag.preds[v]] or [x[None]])
            found.append(values)
    return found


def size_ratios(outputs: list[dict[int, torch.Tensor]], choice: CodecChoice) -> dict[int, float]:
    """Per vertex: the bytes ``choice`` encodes its output into, averaged over ``outputs``
    (:func:`vertex_outputs`), as a multiple of the codec's expected ``encoded_bytes``;
    nothing for a codec whose size does not depend on the data (``sized``)."""
    codec = get_codec(choice)
    if codec.sized or not outputs:
        return {}
    ratios = {}
    for v in outputs[0]:
        expected = codec.encoded_bytes(outputs[0][v].dtype, tuple(outputs[0][v].shape))
        if expected > 0:
            sent = np.mean([memoryview(codec.encode(values[v])).nbytes for values in outputs])
            ratios[v] = _size_ratio(sent / expected)
    return ratios


def _size_ratio(ratio: float) -> float:
    """A measured ratio as a plan may carry it (``CodecPlan.sizes``: > 0, ≤ MAX_SIZE_RATIO)."""
    return round(min(max(float(ratio), 1e-4), MAX_SIZE_RATIO), 4)


def _unsized(codecs: CodecPlan) -> set[str]:
    """The labels of ``codecs``' choices whose bytes depend on the data."""
    return {c.label for c in codecs.choices() if not get_codec(c).sized}


def data_sized(codecs: CodecPlan) -> bool:
    """Some codec of ``codecs`` sends a number of bytes that depends on the data."""
    return bool(_unsized(codecs))


def exact_sizes(codecs: CodecPlan, outputs: list[dict[int, torch.Tensor]]) -> CodecPlan:
    """``codecs`` with the measured size of every output whose codec's bytes depend on the
    data (a compressor's: ``sized`` False), on the exact activations ``outputs``
    (:func:`vertex_outputs`). ``zstd`` over fp16 frames assumed 0.76 of them from the
    main job's DP-40 (docs/executor.md), while that network's own activations compressed
    to 0.14 and its 4-unit run moved 22 KB per inference against 125 KB counted."""
    unsized = _unsized(codecs)
    measured = {c.label: size_ratios(outputs, c) for c in codecs.choices() if c.label in unsized}
    sizes = {v: measured[codecs.of(v).label][v] for v in outputs[0] if v in measured.get(codecs.of(v).label, {})}
    return codecs.model_copy(update={"sizes": sizes})


def crossing_sizes(arch, net, codecs: CodecPlan, xs: torch.Tensor, plan: Plan) -> CodecPlan:
    """``codecs`` (sizes of the exact activations, :func:`exact_sizes`) with the crossings
    of ``plan``'s partition (and tiling) measured as its workers make them, on the first
    :data:`SIZE_IMAGES` of ``xs``: a lossy inner codec changes what its consumers
    compute, and the main job's deep activations (1e-13 and less) arrive as fp16 zeros,
    whose maps the workers then send in 19 bytes."""
    found: dict[int, list[float]] = {}
    coded_logits(arch, net, plan.partition, codecs, xs[:SIZE_IMAGES], plan.tiling, ratios=found)
    unsized = _unsized(codecs)
    update = {v: _size_ratio(np.mean(r)) for v, r in found.items() if codecs.of(v).label in unsized}
    return codecs.model_copy(update={"sizes": {**codecs.sizes, **update}})


def place_sized(place: Callable[[CodecPlan], Plan], arch, net, codecs: CodecPlan, xs: torch.Tensor,
                outputs: list[dict[int, torch.Tensor]] | None = None) -> tuple[CodecPlan, Plan]:
    """(codecs with measured sizes, plan) for ``place`` (any placement), so that Λ, the
    score and the latency model count what the workers will send: placed for the sizes
    of the exact activations (:func:`exact_sizes`; those ``codecs`` already carry, as
    :func:`level_plan` measures them, are kept), then again for those its own crossings
    make (:func:`crossing_sizes`), until a placement is the one its sizes were measured
    on (at most :data:`SIZE_PASSES` more). ``outputs``: :func:`vertex_outputs` of the
    first :data:`SIZE_IMAGES` of ``xs``, if already computed. Codecs of fixed size, and
    an imported model (no vertex outputs to measure), are placed once, as given."""
    if not data_sized(codecs):
        return codecs, place(codecs)
    outputs = vertex_outputs(arch, net, xs[:SIZE_IMAGES]) if outputs is None else outputs
    if not outputs:
        return codecs, place(codecs)
    exact = codecs if codecs.sizes else exact_sizes(codecs, outputs)
    plan = place(exact)
    for _ in range(SIZE_PASSES):
        sized = crossing_sizes(arch, net, exact, xs, plan)
        again = place(sized)
        if again.partition == plan.partition and again.tiling == plan.tiling:
            break
        plan = again
    return sized, again


SIZE_PASSES = 3
"""Placements :func:`place_sized` tries after the first: a measured size moves the
partition, and the moved partition's crossings compress otherwise."""


def level_plan(arch, choices: tuple[CodecChoice, ...], profile, cost: Callable[[CodecChoice], CodecCost],
               outputs: list[dict[int, torch.Tensor]] = ()) -> CodecPlan:
    """Per vertex, the choice whose crossing the model finds fastest (a data-dependent
    codec's bytes measured on ``outputs``, :func:`vertex_outputs`); the commonest is the default."""
    plans = [CodecPlan(default=c, sizes=size_ratios(list(outputs), c)) for c in choices]
    seconds = np.stack([crossing_s(wire_of(arch, plan, cost), profile) for plan in plans])
    pick = np.argmin(seconds, axis=0)
    best = [choices[i] for i in pick]
    default = Counter(c.label for c in best).most_common(1)[0][0]
    default_choice = next(c for c in choices if c.label == default)
    sizes = {v: plans[i].sizes[v] for v, i in enumerate(pick) if v in plans[i].sizes}
    return CodecPlan(default=default_choice,
                     vertices={v: c for v, c in enumerate(best) if c.label != default}, sizes=sizes)


def choose(arch, net, profile, place: Callable[[CodecPlan], Plan], cost: Callable[[CodecChoice], CodecCost],
           xs: torch.Tensor, max_top1_change: float = DEFAULT_MAX_TOP1_CHANGE) -> tuple[CodecPlan, Plan, list[dict]]:
    """``--codec auto``: (codecs, plan, report). ``place(codecs)`` places the network for
    a codec plan's bytes (any placement, tiles included); each candidate is predicted end
    to end (:func:`parawire.executor.tiles.predicted_s`). The report has one entry per
    level, in the order checked."""
    reference = exact_logits(net, xs)
    outputs = vertex_outputs(arch, net, xs[:SIZE_IMAGES])
    candidates = []
    allowed: tuple[CodecChoice, ...] = ()
    for name, choices in LEVELS:
        allowed += choices
        _, plan = place_sized(place, arch, net, level_plan(arch, allowed, profile, cost, outputs), xs, outputs)
        candidates.append((predicted_s(arch, plan, profile, cost=cost), name, plan))
    report = []
    for makespan, name, plan in sorted(candidates, key=lambda c: c[0]):
        codecs = plan.codecs
        entry = {"level": name, "codecs": codecs.label, "predicted_ms": makespan * 1e3,
                 "tiled": plan.tiling is not None}
        exact = exact_plan(codecs)
        if not exact:
            logits = coded_logits(arch, net, plan.partition, codecs, xs, plan.tiling)
            accuracy = compare(reference, logits)
            entry.update(accuracy.to_dict(), top1_change=1 - accuracy.top1_agreement)
        entry["accepted"] = exact or entry["top1_change"] <= max_top1_change
        report.append(entry)
        if entry["accepted"]:
            return codecs, plan, report
    raise AssertionError("the exact level is always accepted")
