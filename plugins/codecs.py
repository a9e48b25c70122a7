"""Built-in activation codecs: ``raw`` (the default), ``fp16``, ``bf16``, ``int8`` and the
lossless ``zstd`` on top of any of them.

Every crossing of the plan names one (docs/executor.md, Codecs). The records and their
parameter models live here; the work, which needs torch, in
:mod:`parawire.plugins.codec_kernels`, imported when a codec is first built (start-up
time: ``parawire plugins`` loads every entry point).
"""

from __future__ import annotations

from typing import Any

from parawire.plugin import CodecChoice, CodecPlugin, NoParams, hookimpl
from pydantic import BaseModel, ConfigDict, Field


class Int8Params(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group_min: int = Field(128, ge=1, description=(
        "fewest values per channel that get their own scale; below it one scale for the tensor"))


class ZstdParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inner: str = Field("raw", description="the codec whose frame is compressed (any codec but zstd)")
    inner_params: dict[str, Any] = Field(default_factory=dict, description="the inner codec's parameters")
    level: int = Field(1, ge=-7, le=22, description="zstd level; 1 compresses activations at ~1 GB/s")
    ratio: float | None = Field(None, gt=0, le=1.1, description=(
        "compressed / inner bytes the score and latency model assume; default: measured"))


EXPECTED_RATIO = {"raw": 0.93, "fp16": 0.76, "bf16": 0.78, "int8": 0.93}
"""zstd level 1 over each built-in's frames, on the activations of the main job's DP-40
(164 tensors, 61 KB mean; docs/executor.md): batch-normalised activations are dense, so
only the half-precision exponents compress much. Other inner codecs: 1 (no gain assumed)."""


def _raw():
    from parawire.plugins.codec_kernels import Raw

    return Raw()


def _cast(wire: str, name: str):
    def factory():
        import torch
        from parawire.plugins.codec_kernels import Cast

        return Cast(getattr(torch, wire), name)

    return factory


def _int8(params: Int8Params):
    from parawire.plugins.codec_kernels import Int8

    return Int8(params.group_min)


def _zstd(params: ZstdParams):
    from parawire.plugins.codec_kernels import Zstd

    ratio = params.ratio or EXPECTED_RATIO.get(params.inner, 1.0)
    return Zstd(CodecChoice(name=params.inner, params=params.inner_params), params.level, ratio)


@hookimpl
def parawire_codecs():
    return [
        CodecPlugin(name="raw", summary="float32 as computed (exact; the default)", params=NoParams,
                    factory=_raw),
        CodecPlugin(name="fp16", summary="IEEE half precision: ½ the bytes, ~3 decimal digits",
                    params=NoParams, factory=_cast("float16", "fp16")),
        CodecPlugin(name="bf16", summary="bfloat16: ½ the bytes, float32's range, ~2 decimal digits",
                    params=NoParams, factory=_cast("bfloat16", "bf16")),
        CodecPlugin(name="int8", summary="8-bit affine per channel, scales in the frame: ~¼ the bytes",
                    params=Int8Params, factory=_int8),
        CodecPlugin(name="zstd", summary="lossless zstd on top of another codec (inner=…)",
                    params=ZstdParams, factory=_zstd),
    ]
