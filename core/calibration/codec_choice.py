"""Accuracy of a codec plan, measured, and ``--codec auto``: the fastest plan the latency
model finds among those that keep the top-1 predictions.

A lossy codec changes what the network computes, so it is never assumed harmless: a
plan is checked on a calibration set first, in one process, with each crossing of the
partition encoded and decoded exactly as the workers do it (remote consumers get the
decoded tensor, local ones the computed one, one image at a time as a worker sends
it). The measure is the share of inputs whose top-1 class changes against the exact
network (and the largest logit difference).

``auto`` builds one candidate plan per level of loss (exact: ``raw`` or ``zstd`` over
it; half: adds ``fp16``; 8-bit: adds ``int8``), each crossing taking the codec of its
level that the model says crosses fastest (encode + message + decode on the profile),
places the network for that plan's bytes, predicts the makespan, and keeps the fastest
plan whose check stays within the bound. Exact plans need no check. ``bf16`` is left out:
same bytes as ``fp16``, fewer mantissa bits, no range the activations need.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
from parawire.latency.model import simulate
from parawire.latency.schedule import crossing_s
from parawire.pipeline.wire import CodecCost, wire_of
from parawire.registry.codecs import RAW, CodecChoice, CodecPlan, get_codec

LEVELS: tuple[tuple[str, tuple[CodecChoice, ...]], ...] = (
    ("exact", (RAW, CodecChoice(name="zstd"))),
    ("half", (CodecChoice(name="fp16"), CodecChoice(name="zstd", params={"inner": "fp16"}))),
    ("8-bit", (CodecChoice(name="int8"), CodecChoice(name="zstd", params={"inner": "int8"}))),
)
DEFAULT_MAX_TOP1_CHANGE = 0.005


@dataclass(frozen=True)
class Accuracy:
    """A plan's outputs against the exact network's on ``inputs`` images."""

    inputs: int
    max_abs_diff: float
    top1_agreement: float

    def to_dict(self) -> dict:
        return asdict(self)


def calibration_set(input_shape, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` images of ``input_shape`` (standard normal, seeded): the checks' inputs."""
    return torch.randn(n, *input_shape, generator=torch.Generator().manual_seed(seed))


def compare(reference: torch.Tensor, logits: torch.Tensor) -> Accuracy:
    same = (reference.argmax(-1) == logits.argmax(-1)).double().mean()
    return Accuracy(len(reference), float((reference - logits).abs().max()), float(same))


def exact_logits(net, xs: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([net(x[None]) for x in xs])


def coded_logits(arch, net, partition, codecs: CodecPlan, xs: torch.Tensor) -> torch.Tensor:
    """Logits of the network with every crossing of ``partition`` through its codec."""
    dag, part = arch.dag, np.asarray(partition)
    crossing = {v: get_codec(codecs.of(v)) for v in dag.order
                if not codecs.of(v).raw and any(part[w] != part[v] for w in dag.succs[v])}
    rows = []
    with torch.inference_mode():
        for x in xs:
            local, remote = {}, {}
            for v in dag.order:
                preds = dag.preds[v]
                inputs = [(remote if part[p] != part[v] and p in remote else local)[p] for p in preds]
                local[v] = net.blocks[str(v)](inputs or [x[None]])
                if v in crossing:
                    out, codec = local[v], crossing[v]
                    frame = memoryview(codec.encode(out)).cast("B")
                    remote[v] = codec.decode(frame, out.dtype, tuple(out.shape))
            rows.append(local[dag.output])
    return torch.cat(rows)


def level_plan(arch, choices: tuple[CodecChoice, ...], profile,
               cost: Callable[[CodecChoice], CodecCost]) -> CodecPlan:
    """Per vertex, the choice whose crossing the model finds fastest; the commonest is the default."""
    seconds = np.stack([crossing_s(wire_of(arch, CodecPlan(default=c), cost), profile) for c in choices])
    best = [choices[i] for i in np.argmin(seconds, axis=0)]
    default = Counter(c.label for c in best).most_common(1)[0][0]
    default_choice = next(c for c in choices if c.label == default)
    return CodecPlan(default=default_choice,
                     vertices={v: c for v, c in enumerate(best) if c.label != default})


def choose(arch, net, profile, place: Callable, cost: Callable[[CodecChoice], CodecCost],
           xs: torch.Tensor, max_top1_change: float = DEFAULT_MAX_TOP1_CHANGE,
           input_policy: str = "stem") -> tuple[CodecPlan, np.ndarray, list[dict]]:
    """``--codec auto``: (plan, partition, report). ``place(wire)`` places the network for
    a plan's bytes; the report has one entry per level, in the order checked."""
    reference = exact_logits(net, xs)
    costs = arch.costs
    candidates = []
    allowed: tuple[CodecChoice, ...] = ()
    for name, choices in LEVELS:
        allowed += choices
        codecs = level_plan(arch, allowed, profile, cost)
        wire = wire_of(arch, codecs, cost)
        part = place(wire)
        makespan = simulate(arch.dag, costs.flops, costs.out_bytes, part, profile, policy="ready",
                            params=costs.params, input_policy=input_policy, wire=wire)
        candidates.append((makespan, name, codecs, part))
    report = []
    for makespan, name, codecs, part in sorted(candidates, key=lambda c: c[0]):
        entry = {"level": name, "codecs": codecs.label, "predicted_ms": makespan * 1e3}
        exact = all(get_codec(c).exact for c in codecs.choices())
        if not exact:
            accuracy = compare(reference, coded_logits(arch, net, part, codecs, xs))
            entry.update(accuracy.to_dict(), top1_change=1 - accuracy.top1_agreement)
        entry["accepted"] = exact or entry["top1_change"] <= max_top1_change
        report.append(entry)
        if entry["accepted"]:
            return codecs, part, report
    raise AssertionError("the exact level is always accepted")
