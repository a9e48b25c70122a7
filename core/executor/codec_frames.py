"""Where the plan's codecs meet the wire: a unit's codec objects, the frames of an
encoded activation, and the checked decoding of one on arrival.

The protocol only knows that a ``TENSOR`` is encoded (``FLAG_ENCODED``) and what it
decodes to; which codec decodes it is the plan's word for that vertex, never the
sender's, so a peer cannot make a worker run a codec the deployment did not name. A raw
crossing keeps the zero-copy path of :func:`~parawire.executor.protocol.tensor_frames`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from parawire.executor.plan import Plan, UnitPlan
from parawire.executor.protocol import Kind, Message, ProtocolError, encoded_frames, tensor_frames
from parawire.registry.codecs import Codec, CodecFrameError, get_codec


def unit_codecs(plan: Plan, unit: UnitPlan) -> dict[int, Codec]:
    """vertex → codec object for every crossing ``unit`` sends or receives that is not
    raw (built once per deployment; an unknown codec fails the deployment). A tiling's
    pieces are crossings too, through their map's codec (:meth:`Plan.codec_of`)."""
    objects = {c.label: get_codec(c) for c in plan.codecs.choices() if not c.raw}
    crossing = sorted(set(unit.sends) | set(unit.receives))
    return {v: objects[plan.codec_of(v).label] for v in crossing if not plan.codec_of(v).raw}


class Encoder:
    """The frames of a unit's outgoing activations. A vertex's output is encoded once,
    however many units it goes to (the runner sends it to each in a row)."""

    def __init__(self, codecs: dict[int, Codec]) -> None:
        self.codecs = codecs
        self._last: tuple[int, int, torch.Tensor, Any] | None = None

    def frames(self, tensor: torch.Tensor, *, request: int, vertex: int, unit: int, session: bytes) -> list[Any]:
        codec = self.codecs.get(vertex)
        if codec is None:
            return tensor_frames(Kind.TENSOR, tensor, request=request, vertex=vertex, unit=unit, session=session)
        last = self._last
        if last is None or last[0] != request or last[1] != vertex or last[2] is not tensor:
            last = self._last = (request, vertex, tensor, codec.encode(tensor))
        return encoded_frames(last[3], tensor.dtype, tuple(tensor.shape), request=request, vertex=vertex,
                              unit=unit, session=session)


def received(msg: Message, codecs: dict[int, Codec],
             wanted: Callable[[int], bool] = lambda nbytes: True) -> torch.Tensor | None:
    """The tensor a checked message carries, decoded with the plan's codec for its vertex;
    a message encoded otherwise than the plan says, or a frame the codec refuses, is a
    :class:`ProtocolError` (one counted drop). ``wanted(nbytes)`` is asked once, before an
    encoded frame is decoded (the runner's room for a tensor that size): a frame of a few
    bytes may decode to the message limit, so nothing is allocated for one that would not
    be kept (``None``)."""
    codec = codecs.get(msg.vertex)
    if msg.encoded is None:
        if codec is not None:
            raise ProtocolError(f"{msg.kind.name} for vertex {msg.vertex} arrived raw; the plan encodes it")
        return msg.tensor if wanted(msg.tensor.nbytes) else None
    if codec is None:
        raise ProtocolError(f"encoded {msg.kind.name} for vertex {msg.vertex}; the plan sends it raw")
    if not wanted(math.prod(msg.shape) * msg.dtype.itemsize):
        return None
    try:
        tensor = codec.decode(msg.encoded, msg.dtype, msg.shape)
    except CodecFrameError as exc:
        raise ProtocolError(f"vertex {msg.vertex}: {exc}") from None
    if tensor.dtype != msg.dtype or tuple(tensor.shape) != msg.shape:
        raise ProtocolError(f"vertex {msg.vertex}: the codec decoded a {tensor.dtype} {tuple(tensor.shape)}"
                            f" tensor; the header says {msg.dtype} {msg.shape}")
    return tensor
