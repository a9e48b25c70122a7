"""The wire protocol: a packed binary header frame plus one raw payload frame.

Why binary and not JSON: measured on the target machine, a JSON header doubles the cost of a
small message (about 125 vs 72 µs one way over ipc). The header is a fixed 70-byte
``struct`` (little-endian), so decoding is one ``unpack`` and a few comparisons.

Frames of one message (ZeroMQ multipart, or the same list on the in-process queues):

* frame 0, the header: magic ``PW``, protocol version, message kind, flags, sender unit,
  request id, vertex, dtype code, ndim, six shape dimensions, payload length, and the
  deployment's session token (16 random bytes the coordinator draws per deployment);
* frame 1, the payload: the tensor's raw bytes (sent from the tensor's own memory, received
  with :func:`torch.frombuffer`, no copy), or UTF-8 JSON for control messages;
* frame 2, only for ``DEPLOY`` with :data:`FLAG_WEIGHTS`: the unit's weights as safetensors.

Nothing that crosses a socket is ever pickled. :func:`decode` checks every field against
the frames it came with, before anything is allocated: integer comparisons on the
unpacked header for tensors (no JSON on the tensor path), and for control messages a
size limit *per kind* (only ``DEPLOY`` may be large, and a ``STATS`` reply middling) and
then one linear scan of the raw bytes (:func:`scan_json`: nesting depth and element
count, chunk by chunk, never backtracking) before ``json.loads`` sees them as UTF-8, so a hostile message costs the receiver
CPU and memory proportional to its own size, and little of either unless it is a
deployment. Any mismatch raises :class:`ProtocolError` and the receiver drops the
message (one counted log line) instead of crashing.
"""

from __future__ import annotations

import enum
import json
import math
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from parawire.executor.transport import DEFAULT_MAX_MESSAGE_BYTES, ProtocolError

MAGIC = b"PW"
VERSION = 2
MAX_NDIM = 6
SESSION_BYTES = 16
HEADER = struct.Struct(f"<2sBBHHQiBB{MAX_NDIM}IQ{SESSION_BYTES}s")
"""magic, version, kind, flags, unit, request, vertex, dtype, ndim, dims…, payload length, session."""

NO_SESSION = bytes(SESSION_BYTES)
"""The session of messages outside any deployment (ping, and a worker not yet deployed)."""

MAX_JSON_BYTES = 16 << 20
"""Largest ``DEPLOY`` payload: a deployment of the largest spec (5,000 vertices, 8 units) is
about 230 KB of JSON, so 16 MiB leaves room for imported models' node maps."""

MAX_JSON_ELEMENTS = 1 << 17
"""Most JSON values and keys in a ``DEPLOY`` (that 5,000-vertex deployment has about 57,000).
Parsed, every element is a Python object of up to about 80 bytes, and pydantic copies the
plan once more: the cap keeps a deployment's parse within tens of MiB whatever its shape."""

MAX_STATS_BYTES = 1 << 20
"""Largest ``STATS`` payload: a worker's reply lists every task's vertices and times (about
50 bytes and 6 values a task), 43 KB for an 800-vertex unit and under 300 KB for the
largest (5,002 vertices); the request itself is empty."""

MAX_CONTROL_BYTES = 16 << 10
"""Largest JSON payload of every other kind (ping, pong, ready, error, cancel, shutdown):
their bodies are a few fields, so a few KB is plenty, and a hostile one is refused by its
length alone."""

MAX_JSON_DEPTH = 32
"""Deepest nesting of control JSON; deployments nest 5 levels (plan → unit_plans → preds)."""

MAX_JSON_DIGITS = 20
"""Longest integer literal in control JSON (2**64 has 20 digits); longer ones are refused
before Python converts them (a 10**6-digit literal costs seconds of CPU)."""

MAX_JSON_FLOAT_CHARS = 64
"""Longest float literal in control JSON (a float64 needs 24 characters)."""

SCAN_CHUNK = 1 << 18
"""Bytes :func:`scan_json` examines per vectorised step (its working memory is about 16×)."""

FLAG_WEIGHTS = 1
"""``DEPLOY`` carries a third frame with the unit's weights as safetensors bytes."""
FLAG_ENCODED = 2
"""``TENSOR`` whose payload is the plan's codec's frame for the header's dtype and shape
(not the raw bytes): the receiver decodes it with the codec its plan names for the vertex."""
FLAGS = FLAG_WEIGHTS | FLAG_ENCODED
"""Every flag bit this version knows; a message with another bit set is refused."""

COORDINATOR = 0xFFFF
"""The ``unit`` field of messages the coordinator sends."""

SOURCE = -1
"""The ``vertex`` of the request's input tensor (the image, before the input vertex)."""


class Kind(enum.IntEnum):
    """What a message is; the receiver dispatches on it."""

    DEPLOY = 1  # coordinator → worker, JSON: spec, plan, unit, peers
    READY = 2  # worker → coordinator, JSON: deployment done
    INPUT = 3  # coordinator → worker, tensor: the request's input (vertex SOURCE)
    TENSOR = 4  # worker → worker, tensor: one vertex's output activation
    RESULT = 5  # worker → coordinator, tensor: the output vertex's logits
    ERROR = 6  # worker → coordinator, JSON: what failed, where
    PING = 7  # anyone → worker
    PONG = 8  # worker → sender, JSON: unit and deployment state
    STATS = 9  # coordinator → worker, and the JSON reply
    CANCEL = 10  # coordinator → worker: forget a request
    SHUTDOWN = 11  # coordinator → worker: stop serving


TENSOR_KINDS = frozenset({Kind.INPUT, Kind.TENSOR, Kind.RESULT})

JSON_LIMITS: dict[Kind, tuple[int, int]] = {
    **{kind: (MAX_CONTROL_BYTES, MAX_CONTROL_BYTES) for kind in Kind if kind not in TENSOR_KINDS},
    Kind.DEPLOY: (MAX_JSON_BYTES, MAX_JSON_ELEMENTS),
    Kind.STATS: (MAX_STATS_BYTES, MAX_JSON_ELEMENTS),
}
"""Per JSON kind: (most payload bytes, most elements). Checked before the payload is read."""

DTYPES: dict[int, torch.dtype] = {
    1: torch.float32,
    2: torch.float16,
    3: torch.bfloat16,
    4: torch.float64,
    5: torch.int64,
    6: torch.int32,
    7: torch.uint8,
    8: torch.int8,
    9: torch.bool,
}
DTYPE_CODES: dict[torch.dtype, int] = {dt: code for code, dt in DTYPES.items()}
ITEMSIZES: dict[int, int] = {code: torch.empty((), dtype=dt).element_size() for code, dt in DTYPES.items()}
KINDS: dict[int, Kind] = {int(k): k for k in Kind}
# Looked up once per message instead of constructing a tensor or an enum: on a 2-core
# machine the Python side of a small message is a measurable share of its cost.

# Zero-copy receive: tensors view the frames ZeroMQ hands out, which are read-only (and
# bytes on the in-process path). Blocks never write to their inputs (parawire.network.nn has no
# in-place ops), so the view is safe and the copy torch's warning suggests would cost what
# zero-copy saves. A process-wide filter for this one message, because catch_warnings()
# is not thread-safe (inproc workers).
warnings.filterwarnings("ignore", message="The given buffer is not writable", category=UserWarning)


@dataclass(slots=True)
class Message:
    """One decoded message. ``tensor`` for tensor kinds, ``body`` for JSON kinds."""

    kind: Kind
    request: int = 0
    vertex: int = 0
    unit: int = COORDINATOR
    tensor: torch.Tensor | None = None
    body: dict[str, Any] = field(default_factory=dict)
    weights: bytes | memoryview | None = None
    payload_bytes: int = 0
    session: bytes = NO_SESSION
    encoded: memoryview | None = None
    """A ``FLAG_ENCODED`` tensor's codec frame; ``dtype`` and ``shape`` say what it decodes to."""
    dtype: torch.dtype | None = None
    shape: tuple[int, ...] = ()


def tensor_frames(
    kind: Kind,
    tensor: torch.Tensor,
    *,
    request: int,
    vertex: int,
    unit: int = COORDINATOR,
    session: bytes = NO_SESSION,
) -> list[Any]:
    """Header and a zero-copy view of the tensor's bytes (the tensor must stay unchanged
    until the message is sent; activations are never written after they are computed)."""
    if tensor.device.type != "cpu":
        tensor = tensor.cpu()
    if tensor.dim() > MAX_NDIM:
        raise ProtocolError(f"tensor has {tensor.dim()} dimensions; at most {MAX_NDIM} travel")
    code = DTYPE_CODES.get(tensor.dtype)
    if code is None:
        raise ProtocolError(f"dtype {tensor.dtype} cannot travel; use one of {sorted(map(str, DTYPE_CODES))}")
    ndim = tensor.dim()
    if tensor.numel():
        # A flat byte view of the tensor's own memory (numpy's buffer: no copy). numpy has
        # no bfloat16, so that one goes through a uint8 view (three more torch calls).
        flat = tensor.detach().contiguous()
        if flat.dtype is torch.bfloat16:
            flat = flat.reshape(-1).view(torch.uint8)
        payload = memoryview(flat.numpy()).cast("B")
    else:
        payload = memoryview(b"")
    header = HEADER.pack(
        MAGIC, VERSION, kind, 0, unit, request, vertex, code, ndim, *tensor.shape, *_PAD[ndim:], payload.nbytes,
        session,
    )
    return [header, payload]


_PAD = (0,) * MAX_NDIM


def encoded_frames(
    payload: Any, dtype: torch.dtype, shape: Sequence[int], *, request: int, vertex: int, unit: int,
    session: bytes,
) -> list[Any]:
    """A ``TENSOR`` carrying a codec's frame (``FLAG_ENCODED``): the header names the
    decoded tensor's dtype and shape, the payload is what the codec produced."""
    if len(shape) > MAX_NDIM:
        raise ProtocolError(f"tensor has {len(shape)} dimensions; at most {MAX_NDIM} travel")
    frame = _buffer(payload).cast("B")
    header = HEADER.pack(
        MAGIC, VERSION, Kind.TENSOR, FLAG_ENCODED, unit, request, vertex, DTYPE_CODES[dtype], len(shape), *shape,
        *_PAD[len(shape):], frame.nbytes, session,
    )
    return [header, frame]


def json_frames(
    kind: Kind,
    body: dict[str, Any] | None = None,
    *,
    request: int = 0,
    vertex: int = 0,
    unit: int = COORDINATOR,
    weights: bytes | None = None,
    session: bytes = NO_SESSION,
) -> list[Any]:
    """Header and UTF-8 JSON (plus the safetensors frame for a deployment with weights)."""
    payload = json.dumps(body or {}, separators=(",", ":")).encode()
    flags = FLAG_WEIGHTS if weights is not None else 0
    header = HEADER.pack(
        MAGIC, VERSION, kind, flags, unit, request, vertex, 0, 0, *_PAD, len(payload), session
    )
    return [header, payload] if weights is None else [header, payload, weights]


def _buffer(frame: Any) -> memoryview:
    """A memoryview of a frame: bytes, memoryview or ``zmq.Frame`` (buffer protocol)."""
    return frame if isinstance(frame, memoryview) else memoryview(frame)


def decode(frames: Sequence[Any], max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Message:
    """Check and decode one multipart message; raise :class:`ProtocolError` on any fault.

    ``max_bytes`` bounds the whole message (all frames). Every check happens before
    anything is allocated for the message (tensors view the received frame).
    """
    if len(frames) not in (2, 3):
        raise ProtocolError(f"expected 2 or 3 frames, got {len(frames)}")
    head = _buffer(frames[0])
    if head.nbytes != HEADER.size:
        raise ProtocolError(f"header is {head.nbytes} bytes, expected {HEADER.size}")
    fields = HEADER.unpack(head)
    magic, version, code, flags, unit, request, vertex, dtype, ndim = fields[:9]
    dims, length, session = fields[9 : 9 + MAX_NDIM], fields[-2], fields[-1]
    if magic != MAGIC:
        raise ProtocolError(f"bad magic {magic!r}, expected {MAGIC!r}")
    if version != VERSION:
        raise ProtocolError(f"protocol version {version}, this side speaks {VERSION}")
    kind = KINDS.get(code)
    if kind is None:
        raise ProtocolError(f"unknown message kind {code}")
    weights, encoded = flags & FLAG_WEIGHTS, flags & FLAG_ENCODED
    if flags & ~FLAGS or (weights and kind is not Kind.DEPLOY) or (encoded and kind is not Kind.TENSOR):
        raise ProtocolError(f"{kind.name} with flags {flags}; only DEPLOY may set FLAG_WEIGHTS ({FLAG_WEIGHTS}),"
                            f" only TENSOR FLAG_ENCODED ({FLAG_ENCODED})")
    if len(frames) != 2 + weights:
        raise ProtocolError(f"{kind.name} with flags {flags} needs {2 + weights} frames, got {len(frames)}")
    payload = _buffer(frames[1])
    total = payload.nbytes + (_buffer(frames[2]).nbytes if weights else 0)
    if length > max_bytes or total > max_bytes:
        raise ProtocolError(f"message of {max(length, total)} bytes exceeds the limit {max_bytes}")
    if payload.nbytes != length:
        raise ProtocolError(f"payload is {payload.nbytes} bytes, header says {length}")
    message = Message(kind, request, vertex, unit, payload_bytes=length, session=session)
    if encoded:
        message.dtype, message.shape = _decoded_shape(dtype, ndim, dims, max_bytes)
        message.encoded = payload
    elif kind in TENSOR_KINDS:
        message.tensor = _tensor(payload, dtype, ndim, dims, max_bytes)
    else:
        message.body = _json(payload, *JSON_LIMITS[kind], kind.name)
        if flags:
            message.weights = _buffer(frames[2])
    return message


def _shape_of(code: int, ndim: int, dims: Sequence[int]) -> tuple[torch.dtype, tuple[int, ...]]:
    """A tensor header's dtype and shape: known dtype, ndim, zero dimensions past it."""
    dtype = DTYPES.get(code)
    if dtype is None:
        raise ProtocolError(f"unknown dtype code {code}")
    if ndim > MAX_NDIM:
        raise ProtocolError(f"ndim {ndim} exceeds {MAX_NDIM}")
    if any(dims[ndim:]):
        raise ProtocolError(f"dimensions past ndim {ndim} must be 0, got {dims}")
    return dtype, tuple(dims[:ndim])


def _decoded_shape(code: int, ndim: int, dims: Sequence[int], max_bytes: int) -> tuple[torch.dtype, tuple[int, ...]]:
    """What an encoded tensor decodes to, checked as a raw tensor's header is, and its
    decoded bytes within the message limit (so a small frame cannot make the receiver
    allocate more than a raw message could)."""
    dtype, shape = _shape_of(code, ndim, dims)
    if math.prod(d or 1 for d in shape) * ITEMSIZES[code] > max_bytes:
        raise ProtocolError(f"encoded tensor of shape {shape} decodes beyond the message limit {max_bytes}")
    return dtype, shape


def _tensor(payload: memoryview, code: int, ndim: int, dims: Sequence[int], max_bytes: int) -> torch.Tensor:
    dtype, shape = _shape_of(code, ndim, dims)
    count = math.prod(shape)
    if count * ITEMSIZES[code] != payload.nbytes:
        raise ProtocolError(f"shape {shape} of {dtype} needs {count * ITEMSIZES[code]} bytes, got {payload.nbytes}")
    if count == 0:
        # An empty tensor's other dimensions still enter torch's size arithmetic (strides):
        # (0, 2**32-1, 2**32-1) overflows it. Bound them as if the zeros were ones.
        if math.prod(d or 1 for d in shape) > max_bytes:
            raise ProtocolError(f"empty shape {shape} has dimensions beyond the message limit {max_bytes}")
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(payload, dtype=dtype, count=count).view(shape)


@dataclass(frozen=True)
class JsonScan:
    """What :func:`scan_json` found: bytes examined (its work), deepest nesting, elements."""

    scanned: int
    depth: int
    elements: int


_BACKSLASH, _QUOTE = 0x5C, 0x22
_OPENERS = np.array([0x5B, 0x7B], dtype=np.uint8)  # [ {
_CLOSERS = np.array([0x5D, 0x7D], dtype=np.uint8)  # ] }
_SEPARATORS = np.array([0x2C, 0x3A], dtype=np.uint8)  # , :
_INDEX = np.arange(SCAN_CHUNK, dtype=np.int32)


def scan_json(payload: bytes | memoryview, max_depth: int = MAX_JSON_DEPTH,
              max_elements: int = MAX_JSON_ELEMENTS, chunk: int = SCAN_CHUNK) -> JsonScan:
    """Nesting depth and element count of JSON text outside its strings, in one pass.

    Why not a regex: the string pattern the protocol used before backtracked, so an
    unterminated run of ``"\\`` cost time quadratic in its length, and the depth check
    materialised an int64 per byte. Here the bytes are examined once, :data:`SCAN_CHUNK` at a
    time (``chunk``), with vectorised steps whose working memory is a fixed multiple of the chunk: a
    byte is escaped when an odd run of backslashes precedes it, a quote that is not escaped
    toggles "inside a string", and outside strings ``[{`` open, ``]}`` close and ``,:``
    separate (elements = openers + separators + 1 bounds the values and keys ``json.loads``
    will create). The state carried between chunks is three integers. It refuses as soon as
    a chunk passes ``max_depth`` or ``max_elements`` (:class:`ProtocolError`), so a hostile
    payload is not even read to its end. Malformed JSON may be scanned "wrongly" only past
    its first error, where ``json.loads`` stops anyway.
    """
    view = memoryview(payload).cast("B")
    inside = escape = 0  # in a string at the chunk's start; parity of the backslashes ending the last chunk
    depth = deepest = 0
    elements = 1
    scanned = 0
    for start in range(0, view.nbytes, chunk):
        c = np.frombuffer(view[start : start + chunk], dtype=np.uint8)
        m = c.size
        index = _INDEX[:m] if m <= SCAN_CHUNK else np.arange(m, dtype=np.int32)
        backslash = c == _BACKSLASH
        last = np.where(backslash, -1, index)  # the last byte at or before i that is not a backslash
        np.maximum.accumulate(last, out=last)
        before = np.empty(m, dtype=np.int32)  # backslashes right before byte i
        before[0] = escape
        before[1:] = index[:-1] - last[:-1] + np.where(last[:-1] < 0, escape, 0)
        quote = (c == _QUOTE) & ((before & 1) == 0)
        outside = (np.cumsum(quote, dtype=np.int32) + inside) & 1 == 0
        opens = np.isin(c, _OPENERS) & outside
        closes = np.isin(c, _CLOSERS) & outside
        level = np.cumsum(opens.view(np.int8) - closes.view(np.int8), dtype=np.int32)
        deepest = max(deepest, depth + int(level.max()))
        depth += int(level[-1])
        elements += int(np.count_nonzero(opens)) + int(np.count_nonzero(np.isin(c, _SEPARATORS) & outside))
        inside = int(not outside[-1])
        escape = (int(before[-1]) + 1) & 1 if backslash[-1] else 0
        scanned += m
        if deepest > max_depth:
            raise ProtocolError(f"control JSON nests more than {max_depth} levels deep")
        if elements > max_elements:
            raise ProtocolError(f"control JSON holds more than {max_elements} values; at most {max_elements}")
    return JsonScan(scanned, deepest, elements)


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_DIGITS:
        raise ProtocolError(f"control JSON holds an integer of more than {MAX_JSON_DIGITS} digits")
    return int(text)


def _bounded_float(text: str) -> float:
    if len(text) > MAX_JSON_FLOAT_CHARS:
        raise ProtocolError(f"control JSON holds a number literal of more than {MAX_JSON_FLOAT_CHARS} characters")
    return float(text)


def _json(payload: memoryview, max_bytes: int, max_elements: int, kind: str) -> dict[str, Any]:
    """Parse control JSON (UTF-8 only) after its per-kind size limit and one linear scan
    (:func:`scan_json`), so ``json.loads`` never recurses deep, never creates more objects
    than the kind allows, and never converts a huge number literal."""
    if payload.nbytes > max_bytes:
        raise ProtocolError(f"{kind} payload of {payload.nbytes} bytes exceeds {max_bytes}")
    scan_json(payload, MAX_JSON_DEPTH, max_elements)
    try:
        # Decoded as UTF-8 here, not by json.loads: given bytes it also takes UTF-16 and
        # UTF-32, whose non-ASCII characters may hold the bytes of a quote or a backslash
        # (U+2200 is 00 22 in UTF-16-LE), so the scan above would count a text other than
        # the one parsed. A UTF-8 multibyte character never holds an ASCII byte.
        text = bytes(payload).decode("utf-8")
        body = json.loads(text, parse_int=_bounded_int, parse_float=_bounded_float)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"control payload is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"control payload is a JSON {type(body).__name__}, expected an object")
    return body
