"""The built-in codecs' work (torch and numpy), imported by their factories on first use
so that listing plugins stays cheap (:mod:`parawire.plugins.codecs` holds the records).

Each decoder checks its frame against the header's dtype and shape (and ``int8`` its
scales) before it allocates the decoded tensor, so a hostile frame is one refused
message, as for a raw tensor.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import zstandard
from parawire.plugin import CodecChoice, CodecFrameError, check_scales, expect_size, get_codec


def _bytes_of(tensor: torch.Tensor) -> memoryview:
    """A flat byte view of a tensor's own memory (numpy has no bfloat16: through uint8)."""
    flat = tensor.detach().contiguous().reshape(-1)
    if flat.dtype is torch.bfloat16:
        flat = flat.view(torch.uint8)
    return memoryview(flat.numpy()).cast("B") if flat.numel() else memoryview(b"")


def _view(payload: memoryview, dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
    count = math.prod(shape)
    if count == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(payload, dtype=dtype, count=count).view(shape)


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


class Raw:
    """The tensor as computed: its own bytes, no copy either way."""

    exact = True
    sized = True

    def encode(self, tensor: torch.Tensor) -> memoryview:
        return _bytes_of(tensor)

    def decode(self, payload: memoryview, dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
        expect_size(payload, self.encoded_bytes(dtype, shape), "raw")
        return _view(payload, dtype, shape)

    def encoded_bytes(self, dtype: torch.dtype, shape: tuple[int, ...]) -> int:
        return math.prod(shape) * _itemsize(dtype)


class Cast:
    """Floating tensors sent as a 2-byte float (``float16`` or ``bfloat16``), cast back on
    arrival: half the bytes of float32. Anything not floating point travels as it is."""

    sized = True

    def __init__(self, wire: torch.dtype, name: str) -> None:
        self.wire, self.name = wire, name
        self.exact = False

    def _casts(self, dtype: torch.dtype) -> bool:
        return dtype.is_floating_point and _itemsize(dtype) > _itemsize(self.wire)

    def encode(self, tensor: torch.Tensor) -> memoryview:
        return _bytes_of(tensor.to(self.wire) if self._casts(tensor.dtype) else tensor)

    def decode(self, payload: memoryview, dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
        expect_size(payload, self.encoded_bytes(dtype, shape), self.name)
        if not self._casts(dtype):
            return _view(payload, dtype, shape)
        if self.wire is torch.bfloat16:
            return _view(payload, torch.int16, shape).view(torch.bfloat16).to(dtype)
        return _view(payload, self.wire, shape).to(dtype)

    def encoded_bytes(self, dtype: torch.dtype, shape: tuple[int, ...]) -> int:
        return math.prod(shape) * _itemsize(self.wire if self._casts(dtype) else dtype)


class Int8:
    """Affine 8-bit quantisation per channel (dimension 1): ``q = round(x / s) + z``
    clamped to 0..255, with the channel's range widened to contain 0 (zeros, half of a
    ReLU's outputs, stay exact). Frame: float32 scales, uint8 zero points, then the
    values. Error at most ``s / 2`` per value, ``s = (max(x, 0) − min(x, 0)) / 255`` of
    its channel. A channel of fewer than ``group_min`` values (a 1024-channel 2×2 map)
    would spend more on its scale than it saves, so such tensors get one scale."""

    exact = False
    sized = True

    def __init__(self, group_min: int) -> None:
        self.group_min = group_min

    def groups(self, shape: tuple[int, ...]) -> int:
        """How many scales a tensor of ``shape`` carries."""
        if len(shape) < 2 or shape[1] == 0 or math.prod(shape) < self.group_min * shape[1]:
            return 1
        return shape[1]

    def encoded_bytes(self, dtype: torch.dtype, shape: tuple[int, ...]) -> int:
        if not dtype.is_floating_point:
            return math.prod(shape) * _itemsize(dtype)
        return self.groups(shape) * 5 + math.prod(shape)

    def encode(self, tensor: torch.Tensor) -> memoryview:
        """One pass for each channel's range, one for the values, written into the frame.

        ``amin`` and ``amax`` rather than ``torch.aminmax(dim=1)``, which on CPU takes ~20×
        as long (1 ms of a 1 MB map's 1.5 ms); the per-channel arithmetic on ``g`` numbers
        runs in numpy, where a small op costs a microsecond rather than a torch dispatch."""
        if not tensor.dtype.is_floating_point:
            return _bytes_of(tensor)
        shape = tuple(tensor.shape)
        g = self.groups(shape)
        x = tensor.detach().float()
        rows = x.movedim(1, 0).reshape(g, -1) if g > 1 else x.reshape(1, -1)
        if rows.shape[1]:
            lo, hi = np.minimum(rows.amin(1).numpy(), 0), np.maximum(rows.amax(1).numpy(), 0)
        else:
            lo = hi = np.zeros(g, dtype=np.float32)
        scale = (hi - lo) / np.float32(255)
        scale[scale <= 0] = 1
        zero = np.clip(np.round(-lo / scale), 0, 255)
        out = np.empty(g * 5 + rows.numel(), dtype=np.uint8)
        out[: 4 * g] = scale.view(np.uint8)
        out[4 * g : 5 * g] = zero
        q = torch.from_numpy(out[5 * g :]).view(g, -1)
        q.copy_(rows.div(torch.from_numpy(scale)[:, None]).round_().add_(torch.from_numpy(zero)[:, None]).clamp_(0, 255))
        return memoryview(out)

    def decode(self, payload: memoryview, dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
        expect_size(payload, self.encoded_bytes(dtype, shape), "int8")
        if not dtype.is_floating_point:
            return _view(payload, dtype, shape)
        g = self.groups(shape)
        raw = np.frombuffer(payload, dtype=np.uint8)
        scale = raw[: 4 * g].view(np.float32)
        check_scales(scale, "int8")
        zero = torch.from_numpy(raw[4 * g : 5 * g].astype(np.float32))
        q = torch.from_numpy(raw[5 * g :].astype(np.float32)).view(g, -1)
        rows = q.sub_(zero[:, None]).mul_(torch.from_numpy(scale.copy())[:, None])
        if g == 1:
            return rows.reshape(shape).to(dtype)
        moved = (shape[1], shape[0], *shape[2:])
        return rows.reshape(moved).movedim(0, 1).contiguous().to(dtype)


class Zstd:
    """Lossless zstd over another codec's frame: ReLU zeros and int8's repeated values
    compress, so it pays on slow links. The frame records its content size, which must be
    exactly the inner frame's size for the header's shape before anything is
    decompressed (no decompression bomb), and the payload is that one frame (bytes after
    it are refused, not ignored). ``encoded_bytes`` is the inner size × ``ratio``,
    an expectation: the bytes a run sends depend on the data (``sized`` is False)."""

    sized = False

    def __init__(self, inner: CodecChoice, level: int, ratio: float) -> None:
        if inner.name.rpartition(":")[2] == "zstd":
            raise ValueError("inner: got 'zstd'; compressing twice gains nothing, name a codec such as raw or int8")
        self.inner = get_codec(inner)
        self.exact = self.inner.exact
        self.ratio = ratio
        self.compressor = zstandard.ZstdCompressor(level=level, write_content_size=True)
        self.decompressor = zstandard.ZstdDecompressor()

    def encoded_bytes(self, dtype: torch.dtype, shape: tuple[int, ...]) -> int:
        return math.ceil(self.inner.encoded_bytes(dtype, shape) * self.ratio)

    def encode(self, tensor: torch.Tensor) -> bytes:
        return self.compressor.compress(self.inner.encode(tensor))

    def decode(self, payload: memoryview, dtype: torch.dtype, shape: tuple[int, ...]) -> torch.Tensor:
        size = self.inner.encoded_bytes(dtype, shape)
        try:
            declared = zstandard.get_frame_parameters(payload).content_size
            if declared != size:
                raise CodecFrameError(f"zstd frame declares {declared} bytes; the shape needs {size}")
            plain = self.decompressor.decompress(payload, max_output_size=size, allow_extra_data=False)
        except zstandard.ZstdError as exc:
            raise CodecFrameError(f"zstd frame does not decompress ({exc})") from None
        return self.inner.decode(memoryview(plain), dtype, shape)
