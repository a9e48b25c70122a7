"""The plan's codecs turned into the plain numbers the lower layers use (a
:class:`~parawire.latency.wire.Wire`): this is where codec plugins are asked, once, so
the score, the latency model and the placement never look one up.

Bytes are each codec's ``encoded_bytes`` for the vertex's float32 output of one image
(shape ``(1, C, H, W)``, what a worker sends); work is the codec's calibrated cost
(:class:`CodecCost`, measured by :mod:`parawire.calibration.codecs`) at that size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from parawire.latency.wire import Wire
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
    if codecs.default.raw and not codecs.vertices:
        return Wire.raw(arch.costs.out_bytes)
    import torch  # start-up time: the score's options and plain runs do not need it

    shapes = output_shapes(arch)
    raw_bytes = np.asarray(arch.costs.out_bytes, dtype=np.float64)
    objects = {c.label: get_codec(c) for c in codecs.choices()}
    costs = {c.label: (FREE if cost is None or c.raw else cost(c)) for c in codecs.choices()}
    sizes = np.empty(len(shapes), dtype=np.int64)
    encode = np.zeros(len(shapes))
    decode = np.zeros(len(shapes))
    for v, shape in enumerate(shapes):
        label = codecs.of(v).label
        sizes[v] = objects[label].encoded_bytes(torch.float32, shape)
        c = costs[label]
        encode[v] = c.encode_fixed + c.encode_per_byte * raw_bytes[v]
        decode[v] = c.decode_fixed + c.decode_per_byte * raw_bytes[v]
    return Wire(sizes, encode, decode)
