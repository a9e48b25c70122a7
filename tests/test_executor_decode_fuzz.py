"""Property-based fuzzing of the decoder: whatever bytes arrive, only ``ProtocolError`` escapes.

Three generators: raw frames (any bytes, any count), headers whose every field ranges
over its whole packed width (so bounds and overflows are hit) with payloads that may or
may not fit, and control payloads built from JSON-ish fragments (deep nesting, long
digit runs, strings hiding brackets). A decoded tensor must agree with its header.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parawire.executor.protocol import (
    HEADER,
    ITEMSIZES,
    MAGIC,
    MAX_NDIM,
    TENSOR_KINDS,
    VERSION,
    Kind,
    ProtocolError,
    decode,
)

LIMIT = 1 << 16
FUZZ = settings(max_examples=2000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
"""7,000 examples over the three generators: about 8 s of CPU on the reference machine
(hypothesis' own bookkeeping is most of it, ≈ 1 ms an example)."""


def decoded_or_refused(frames) -> None:
    try:
        msg = decode(frames, max_bytes=LIMIT)
    except ProtocolError:
        return
    if msg.kind in TENSOR_KINDS:
        assert msg.tensor.numel() * msg.tensor.element_size() == msg.payload_bytes <= LIMIT
    else:
        assert isinstance(msg.body, dict)


def edges(bits: int, signed: bool = False) -> list[int]:
    """Values at and around the bounds of a field of ``bits`` bits, and a few small ones."""
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return sorted({lo, lo + 1, -1 if signed else 1, 0, 2, 3, 5, hi // 2, hi - 1, hi})


def field(bits: int, signed: bool = False):
    return st.sampled_from(edges(bits, signed))


BYTE = field(8) | st.integers(0, 12)
PAYLOADS = [b"", b"{}", b'{"a":[1,2]}', b"[" * 5000, b"1" * 5000, b"\xff\xfe", b"\0" * 24]


@st.composite
def messages(draw):
    """A header with every field drawn at or near its bounds, and a payload that may fit it."""
    kind, dtype, ndim, flags = draw(BYTE), draw(BYTE), draw(BYTE), draw(BYTE)
    dims = draw(st.lists(field(32), min_size=MAX_NDIM, max_size=MAX_NDIM))
    fitting = math.prod(dims[: min(ndim, MAX_NDIM)]) * ITEMSIZES.get(dtype, 1)
    payload = draw(st.sampled_from(PAYLOADS + ([b"\0" * fitting] if fitting <= LIMIT else [])))
    length = draw(st.sampled_from([len(payload)] * 4 + edges(64)))
    header = HEADER.pack(
        draw(st.sampled_from([MAGIC, MAGIC, b"PX", b"\0\0"])), draw(st.sampled_from([VERSION, VERSION, 1, 255])),
        kind, flags, draw(field(16)), draw(field(64)), draw(field(32, signed=True)),
        dtype, ndim, *dims, length, draw(st.binary(min_size=16, max_size=16)),
    )
    return [header, payload, *draw(st.sampled_from([[], [], [b"w"], [b"", b"x"]]))]


@settings(FUZZ, max_examples=3000)
@given(messages())
def test_structured_headers_decode_or_raise_protocol_error(frames):
    decoded_or_refused(frames)


@FUZZ
@given(st.lists(st.binary(max_size=HEADER.size + 8), max_size=4))
def test_random_frames_decode_or_raise_protocol_error(frames):
    decoded_or_refused(frames)


fragments = st.sampled_from([b"[", b"]", b"{", b"}", b'"', b'\\"', b":", b",", b"1", b"9" * 25, b"-",
                             b"e999", b"NaN", b"null", b'"a"', b"\\", b"\xc3", b" "])


@FUZZ
@given(st.lists(fragments, max_size=60).map(b"".join), st.integers(0, 40))
def test_control_payloads_decode_or_raise_protocol_error(body, depth):
    payload = b'{"x":' * depth + body + b"}" * depth
    header = HEADER.pack(MAGIC, VERSION, Kind.PING, 0, 0, 1, 0, 0, 0, *[0] * MAX_NDIM, len(payload), b"\0" * 16)
    decoded_or_refused([header, payload])


@pytest.mark.parametrize("payload, reason", [
    (b"[" * 100_000 + b"]" * 100_000, "nests 100000 levels deep"),
    (b'{"a":' + b"7" * 100_000 + b"}", "integer of more than 20 digits"),
    (b'{"a":"' + b"[" * 1000 + b'"}', None),  # brackets inside a string are text
])
def test_deep_and_huge_json_is_refused_before_parsing(payload, reason):
    header = HEADER.pack(MAGIC, VERSION, Kind.PING, 0, 0, 1, 0, 0, 0, *[0] * MAX_NDIM, len(payload), b"\0" * 16)
    if reason is None:
        assert decode([header, payload]).body == {"a": "[" * 1000}
    else:
        with pytest.raises(ProtocolError, match=reason):
            decode([header, payload])
