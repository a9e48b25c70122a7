"""Activation codecs: the interface a codec object keeps, the choice a plan carries, and
the checks every decoder runs on a received frame before it allocates anything.

A codec plugin (:class:`~parawire.registry.records.CodecPlugin`) returns a :class:`Codec`
from its factory. The plan names one codec per crossing (:class:`CodecChoice`: a plugin
name and its parameters, plain JSON, so it travels inside ``DEPLOY``); the worker turns
each choice into a codec object once per deployment with :func:`get_codec`.

Why the checks live here and not in the protocol: the protocol knows the decoded
tensor's dtype and shape from the header, but only the codec knows how many bytes its
frame must hold for them and what its side information (scales) may be. A decoder calls
:func:`expect_size` and :func:`check_scales` first, so a hostile frame costs the receiver
no more than its own size, as for a raw tensor frame.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Protocol, runtime_checkable

import numpy as np
from parawire.errors import ParawireError
from parawire.registry.manager import get_plugins
from parawire.registry.records import DEFAULT_CODEC
from pydantic import BaseModel, ConfigDict, Field


class CodecFrameError(ParawireError):
    """A codec frame that cannot be what its header says; the receiver drops the message."""


@runtime_checkable
class Codec(Protocol):
    """What a codec plugin's factory returns.

    ``encode(tensor) -> bytes-like`` (one frame; may be a view of the tensor's memory,
    which is never written after it is computed); ``decode(payload, dtype, shape) ->
    tensor`` of exactly that dtype and shape, raising :class:`CodecFrameError` (one line)
    for a frame that cannot be one, *before* allocating for it; ``encoded_bytes(dtype,
    shape) -> int``: the bytes ``encode`` will send for such a tensor, which the score,
    the latency model and the placement count (for a data-dependent size, such as a
    compressor's, the expected size; ``sized`` then says it is not exact); ``exact``:
    ``decode(encode(x))`` equals ``x`` bit for bit."""

    exact: bool
    sized: bool

    def encode(self, tensor: Any) -> Any: ...

    def decode(self, payload: memoryview, dtype: Any, shape: tuple[int, ...]) -> Any: ...

    def encoded_bytes(self, dtype: Any, shape: tuple[int, ...]) -> int: ...


class CodecChoice(BaseModel):
    """One codec as a plan names it: a plugin name (``dist:name`` allowed) and its parameters."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(DEFAULT_CODEC, min_length=1, max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        """``int8``, ``zstd(inner=fp16)``: how tables and reports name the choice."""
        if not self.params:
            return self.name
        return f"{self.name}({','.join(f'{k}={v}' for k, v in sorted(self.params.items()))})"

    @property
    def raw(self) -> bool:
        return self.name == DEFAULT_CODEC and not self.params


RAW = CodecChoice()


MAX_SIZE_RATIO = 16.0
"""The largest measured size ratio a plan may carry: a compressor's frame of
incompressible data is a little over its expectation, never many times it."""


class CodecPlan(BaseModel):
    """The codec of every crossing: ``default`` for all, ``vertices`` for the outputs that
    differ (vertex → choice; ``--codec auto`` fills it). Plain JSON inside the plan."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default: CodecChoice = RAW
    vertices: dict[int, CodecChoice] = Field(default_factory=dict)
    sizes: dict[int, Annotated[float, Field(gt=0, le=MAX_SIZE_RATIO, allow_inf_nan=False)]] = Field(
        default_factory=dict, description=(
            "per vertex whose codec's size depends on the data: its bytes measured on the network's "
            "own activations, as a multiple of the codec's expected encoded_bytes"))

    def of(self, vertex: int) -> CodecChoice:
        return self.vertices.get(vertex, self.default)

    def size_ratio(self, vertex: int) -> float:
        """What the score and the latency model multiply ``vertex``'s expected encoded
        bytes by: its measured ratio (:func:`parawire.calibration.codec_choice.place_sized`), else 1."""
        return self.sizes.get(vertex, 1.0)

    def choices(self) -> list[CodecChoice]:
        """Every distinct choice in use, the default first."""
        seen = {self.default.label: self.default}
        for choice in self.vertices.values():
            seen.setdefault(choice.label, choice)
        return list(seen.values())

    @property
    def label(self) -> str:
        extra = len(self.vertices)
        return self.default.label + (f" (+{extra} per-tensor)" if extra else "")


RAW_PLAN = CodecPlan()


def exact_plan(codecs: CodecPlan) -> bool:
    """Every crossing's codec gives back what was computed (``raw``, ``zstd`` over it): the
    outputs must then equal one process's, where a lossy plan is judged by its accuracy."""
    return all(get_codec(c).exact for c in codecs.choices())


def get_codec(choice: CodecChoice | str, params: Any = None) -> Codec:
    """The codec object of a choice (or of a name and parameters), its parameters
    validated by the plugin's model: one line naming the field if not."""
    if isinstance(choice, str):
        choice = CodecChoice(name=choice, params=dict(params or {}))
    registry = get_plugins().codecs
    # the default is a name parawire picks itself: its own ``raw`` unless the user qualified it
    record = registry.get(registry.own(choice.name) if choice.name == DEFAULT_CODEC else choice.name)
    # validated (extra names refused) and checked against the codec contract by the one
    # invocation path every plugin kind goes through (parawire.registry.records)
    return record.invoke(None, record.resolve(dict(choice.params)))


def numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def expect_size(payload: memoryview, nbytes: int, what: str) -> None:
    """Refuse a frame whose size is not the ``nbytes`` its header's shape needs."""
    if payload.nbytes != nbytes:
        raise CodecFrameError(f"{what} frame is {payload.nbytes} bytes; the shape needs {nbytes}")


def check_scales(scales: np.ndarray, what: str, largest: float = 3.4e38) -> None:
    """Refuse side information a decoder would multiply by: every scale finite, > 0 and
    below ``largest`` (a hostile scale must not turn a frame into infinities)."""
    if scales.size and not (np.isfinite(scales).all() and (scales > 0).all() and (scales < largest).all()):
        bad = scales[~(np.isfinite(scales) & (scales > 0) & (scales < largest))][0]
        raise CodecFrameError(f"{what} frame holds scale {bad!r}; scales must be finite, > 0 and < {largest:g}")
