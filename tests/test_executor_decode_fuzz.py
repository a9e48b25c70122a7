"""Property-based fuzzing of the decoder: whatever bytes arrive, only ``ProtocolError`` escapes.

Three generators: raw frames (any bytes, any count), headers whose every field ranges
over its whole packed width (so bounds and overflows are hit) with payloads that may or
may not fit, and control payloads built from JSON-ish fragments (deep nesting, long
digit runs, strings hiding brackets). A decoded tensor must agree with its header.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parawire.executor.protocol import (
    HEADER,
    ITEMSIZES,
    MAGIC,
    MAX_CONTROL_BYTES,
    MAX_JSON_DEPTH,
    MAX_JSON_ELEMENTS,
    MAX_NDIM,
    MAX_STATS_BYTES,
    SCAN_CHUNK,
    TENSOR_KINDS,
    VERSION,
    Kind,
    ProtocolError,
    decode,
    scan_json,
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


def control(kind: Kind, payload: bytes) -> list[bytes]:
    return [HEADER.pack(MAGIC, VERSION, kind, 0, 0, 1, 0, 0, 0, *[0] * MAX_NDIM, len(payload), b"\0" * 16), payload]


@pytest.mark.parametrize("payload, reason", [
    (b"[" * 100_000 + b"]" * 100_000, f"nests more than {MAX_JSON_DEPTH} levels deep"),
    (b'{"a":' + b"7" * 100_000 + b"}", "integer of more than 20 digits"),
    (b'{"a":1.' + b"5" * 100 + b"}", "number literal of more than 64 characters"),
    (b"[" + b"[]," * MAX_JSON_ELEMENTS + b"[]]", f"holds more than {MAX_JSON_ELEMENTS} values"),
    (b'{"a":"' + b"[" * 1000 + b'"}', None),  # brackets inside a string are text
    (b'{"a":"\\\\","b":[[1]]}', None),  # an escaped backslash ends before the quote
])
def test_deep_and_huge_json_is_refused_before_parsing(payload, reason):
    if reason is None:
        assert decode(control(Kind.DEPLOY, payload)).body == json.loads(payload)
    else:
        with pytest.raises(ProtocolError, match=reason):
            decode(control(Kind.DEPLOY, payload))


@pytest.mark.parametrize("kind", [k for k in Kind if k not in TENSOR_KINDS and k is not Kind.DEPLOY])
def test_only_a_deployment_may_carry_more_than_a_few_kb_of_json(kind):
    limit = MAX_STATS_BYTES if kind is Kind.STATS else MAX_CONTROL_BYTES  # a stats reply lists every task
    body = b'{"a":"' + b"x" * (limit - 8) + b'"}'
    with pytest.raises(ProtocolError, match=f"{kind.name} payload of {limit + 1} bytes exceeds"):
        decode(control(kind, body[:6] + b"x" + body[6:]))
    assert decode(control(kind, body)).body["a"] == "x" * (limit - 8)
    assert len(decode(control(Kind.DEPLOY, body + b" " * limit)).body["a"]) == limit - 8


def _reference_scan(raw: bytes) -> tuple[int, int]:
    """Depth and elements, byte by byte (what scan_json must agree with)."""
    inside = escaped = False
    depth = deepest = 0
    elements = 1
    for ch in raw:
        was, escaped = escaped, (ch == 0x5C and not escaped)
        if inside:
            inside = not (ch == 0x22 and not was)
        elif ch == 0x22 and not was:
            inside = True
        elif ch in b"[{":
            depth += 1
            deepest, elements = max(deepest, depth), elements + 1
        elif ch in b"]}":
            depth -= 1
        elif ch in b",:":
            elements += 1
    return deepest, elements


@settings(FUZZ, max_examples=1000)
@given(st.lists(fragments, max_size=60).map(b"".join), st.sampled_from([1, 2, 3, 7, 64, SCAN_CHUNK]))
def test_the_chunked_scan_agrees_with_a_byte_by_byte_one(raw, chunk):
    """Chunk boundaries anywhere (inside a run of backslashes, a string, a number) change nothing."""
    found = scan_json(raw, max_depth=10**9, max_elements=10**9, chunk=chunk)
    assert (found.depth, found.elements) == _reference_scan(raw) and found.scanned == len(raw)


HOSTILE = {  # the payloads of the table, row 1 and row 4
    "unterminated escapes": b'"\\',
    "empty lists": b"[],",
    "spaces": b" ",
}


@pytest.mark.parametrize("unit", HOSTILE.values(), ids=list(HOSTILE))
def test_hostile_payloads_cost_one_pass_or_are_refused_early(unit):
    """Linear by counting, not timing: the scan examines each byte once (its ``scanned``
    equals the payload's length however the payload is built), and stops at the first chunk
    past the element limit; a payload over its kind's size limit is never scanned."""
    for size in (1 << 12, 1 << 16, 1 << 20, 1 << 22):
        raw = (b"[" + unit * (size // len(unit)) + b"[]]")[:size]
        try:
            found = scan_json(raw)
        except ProtocolError as exc:
            assert "more than" in str(exc) and unit == b"[],"
            assert size >= 2 * MAX_JSON_ELEMENTS  # refused once the elements pass the limit
            continue
        assert found.scanned == len(raw) and found.depth <= 2
    with pytest.raises(ProtocolError, match="PING payload of 65536 bytes exceeds 16384"):
        decode(control(Kind.PING, HOSTILE["unterminated escapes"] * (1 << 15)))


def test_the_scan_of_a_refused_payload_stops_at_the_chunk_that_passes_the_limit(monkeypatch):
    import parawire.executor.protocol as protocol

    seen = []
    real = protocol.np.frombuffer
    monkeypatch.setattr(protocol.np, "frombuffer", lambda b, **kw: seen.append(len(b)) or real(b, **kw))
    raw = b"[" + b"[]," * (4 * MAX_JSON_ELEMENTS)
    with pytest.raises(ProtocolError, match="values"):
        scan_json(raw)
    assert sum(seen) < 3 * MAX_JSON_ELEMENTS + SCAN_CHUNK < len(raw)
