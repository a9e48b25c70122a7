"""What one crossing of each vertex's output costs under the plan's codecs, as plain
numbers: the one value the score, the latency model and the placement share.

Codecs are plugins, and layers this low never look a plugin up
(docs/architecture.md), so :func:`parawire.pipeline.wire.wire_of` asks the codecs and
hands the answer down as a :class:`Wire`: per vertex, the bytes one message of its
output carries (``encoded_bytes`` of its codec for its float32 shape) and the work of
encoding it once on the sender and decoding it on each receiver, in multiply-add
equivalents, so that one calibration serves every :class:`~parawire.latency.model.DeviceProfile`
(seconds = MACs / ``profile.flops_per_s``, as for a vertex's compute).

``out_bytes`` (float32 bytes) keeps meaning what a vertex reads and writes in memory;
only messages use ``Wire.bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from parawire.errors import ParawireError


@dataclass(frozen=True, eq=False)
class Wire:
    """Per vertex: ``bytes`` one message of its output carries, ``encode_macs`` to encode
    it (once, on the producing unit, before its first message), ``decode_macs`` to decode
    it (on each receiving unit, before its consumers can use it)."""

    bytes: np.ndarray
    encode_macs: np.ndarray
    decode_macs: np.ndarray

    @classmethod
    def raw(cls, out_bytes: np.ndarray) -> Wire:
        """Float32 as computed: the bytes are ``out_bytes``, nothing to encode."""
        sizes = np.asarray(out_bytes, dtype=np.int64)
        zeros = np.zeros(sizes.shape, dtype=np.float64)
        return cls(sizes, zeros, zeros)

    def check(self, n: int) -> Wire:
        """This wire if it has one entry per vertex of an n-vertex DAG, else a one-line error."""
        for name in ("bytes", "encode_macs", "decode_macs"):
            values = getattr(self, name)
            if len(values) != n:
                raise ParawireError(f"wire.{name}: got {len(values)} entries; need one per DAG vertex ({n})")
            if (np.asarray(values) < 0).any():
                raise ParawireError(f"wire.{name}: got a negative entry; bytes and work are ≥ 0")
        return self


def wire_or_raw(wire: Wire | None, out_bytes: np.ndarray) -> Wire:
    """``wire`` checked against ``out_bytes``' length, or the raw wire of ``out_bytes``."""
    return Wire.raw(out_bytes) if wire is None else wire.check(len(out_bytes))
