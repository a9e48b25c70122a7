"""The plan's codecs turned into the plain numbers the lower layers use (a
:class:`~parawire.latency.wire.Wire`): this is where codec plugins are asked, once, so
the score, the latency model and the placement never look one up.

Bytes are each codec's ``encoded_bytes`` for the vertex's float32 output of one image
(shape ``(1, C, H, W)``, what a worker sends); work is the codec's calibrated cost
(:class:`CodecCost`, measured by :mod:`parawire.calibration.codecs`) at that size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from parawire.latency.tiles import part_shapes
from parawire.latency.wire import Wire
from parawire.network.cost import FLOAT32_BYTES
from parawire.registry.codecs import RAW_PLAN, CodecChoice, CodecPlan, get_codec


@dataclass(frozen=True)
class CodecCost:
    """A codec's work per message in multiply-add equivalents: fixed + per raw byte, to
    encode (sender) and to decode (receiver). Zero for ``raw``, which copies nothing."""

    encode_fixed: float = 0.0
    encode_per_byte: float = 0.0
    decode_fixed: float = 0.0
    decode_per_byte: float = 0.0


FREE = CodecCost()


def output_shapes(arch) -> list[tuple[int, ...]]:
    """Each vertex's output as a worker sends it: ``(1, C, H, W)``; ``(1, n)`` float32
    elements for an architecture without a layout (an imported model's costs only)."""
    layout = getattr(arch, "layout", None)
    if layout is not None:
        return [(1, *map(int, s)) for s in layout.out_shape]
    return [(1, int(b) // 4) for b in arch.costs.out_bytes]


def wire_of(arch, codecs: CodecPlan = RAW_PLAN,
            cost: Callable[[CodecChoice], CodecCost] | None = None) -> Wire:
    """Bytes and codec work of one crossing of every vertex's output under ``codecs``;
    ``cost`` gives a codec's calibrated work (default none: bytes only, as the score needs).
    All raw is ``out_bytes`` itself, without asking a plugin (imported models, bare costs)."""
    if raw_plan(codecs):
        return Wire.raw(arch.costs.out_bytes)
    return _coded(output_shapes(arch), list(range(len(arch.costs.out_bytes))), codecs, cost)


def parts_wire(arch, grid, codecs: CodecPlan = RAW_PLAN,
               cost: Callable[[CodecChoice], CodecCost] | None = None) -> Wire:
    """The same for the parts of a tiling ``grid`` (:func:`parawire.latency.tiles.part_shapes`
    order): a part of map ``m`` (a piece of the gather, or a halo between stages) travels
    through ``m``'s codec, as the map itself would (issue 24)."""
    shapes = part_shapes(arch, grid)
    if raw_plan(codecs):
        return Wire.raw(np.array([math.prod(s) * FLOAT32_BYTES for s in shapes], dtype=np.int64))
    return _coded(shapes, [p.map for p in grid.parts], codecs, cost)


def raw_plan(codecs: CodecPlan) -> bool:
    """Every crossing float32 as computed."""
    return codecs.default.raw and not codecs.vertices


def _coded(shapes: list[tuple[int, ...]], maps: list[int], codecs: CodecPlan,
           cost: Callable[[CodecChoice], CodecCost] | None) -> Wire:
    """Per message of float32 ``shapes[i]`` (all or part of vertex ``maps[i]``'s output,
    through that vertex's codec): its bytes, measured where the plan has them
    (:meth:`CodecPlan.size_ratio`), and work."""
    import torch  # start-up time: the score's options and plain runs do not need it

    objects = {c.label: get_codec(c) for c in codecs.choices()}
    costs = {c.label: (FREE if cost is None or c.raw else cost(c)) for c in codecs.choices()}
    sizes = np.empty(len(shapes), dtype=np.int64)
    encode = np.zeros(len(shapes))
    decode = np.zeros(len(shapes))
    for i, (shape, v) in enumerate(zip(shapes, maps, strict=True)):
        choice = codecs.of(v)
        raw_bytes = math.prod(shape) * FLOAT32_BYTES
        sizes[i] = math.ceil(objects[choice.label].encoded_bytes(torch.float32, shape) * codecs.size_ratio(v))
        c = costs[choice.label]
        encode[i] = c.encode_fixed + c.encode_per_byte * raw_bytes
        decode[i] = c.decode_fixed + c.decode_per_byte * raw_bytes
    return Wire(sizes, encode, decode)
