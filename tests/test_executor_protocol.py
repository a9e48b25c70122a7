"""The wire protocol: round trips without copies, and every malformed message rejected."""

from __future__ import annotations

import json

import pytest
import torch
from parawire.executor.protocol import (
    HEADER,
    MAX_NDIM,
    SOURCE,
    Kind,
    ProtocolError,
    decode,
    json_frames,
    tensor_frames,
)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.bool])
def test_tensor_round_trip_keeps_dtype_shape_and_values(dtype):
    x = (torch.arange(2 * 3 * 4 * 5) % 7).reshape(2, 3, 4, 5).to(dtype)
    frames = tensor_frames(Kind.TENSOR, x, request=2**40 + 3, vertex=17, unit=3)
    msg = decode([bytes(f) for f in frames])
    assert (msg.kind, msg.request, msg.vertex, msg.unit) == (Kind.TENSOR, 2**40 + 3, 17, 3)
    assert msg.tensor.dtype == dtype and msg.tensor.shape == x.shape
    assert torch.equal(msg.tensor, x)


def test_send_and_receive_share_memory_with_the_tensor():
    x = torch.randn(4, 8)
    header, payload = tensor_frames(Kind.INPUT, x, request=1, vertex=SOURCE)
    assert payload.nbytes == x.numel() * 4 and len(header) == HEADER.size
    x[0, 0] = 42.0  # the payload is a view of x, not a copy
    assert torch.frombuffer(payload, dtype=torch.float32)[0] == 42.0
    received = decode([header, payload]).tensor
    x[0, 1] = 7.0  # and so is the received tensor (zero-copy receive)
    assert received[0, 1] == 7.0 and received.data_ptr() == x.data_ptr()


def test_non_contiguous_and_empty_tensors_travel():
    x = torch.arange(12.0).reshape(3, 4).t()
    assert torch.equal(decode(tensor_frames(Kind.TENSOR, x, request=1, vertex=0)).tensor, x)
    empty = torch.empty(0, 5)
    assert decode(tensor_frames(Kind.TENSOR, empty, request=1, vertex=0)).tensor.shape == (0, 5)


def test_json_round_trip_and_weights_frame():
    msg = decode(json_frames(Kind.DEPLOY, {"unit": 2, "plan": {"a": [1, 2]}}, weights=b"ST"))
    assert msg.kind is Kind.DEPLOY and msg.body == {"unit": 2, "plan": {"a": [1, 2]}}
    assert bytes(msg.weights) == b"ST"
    assert decode(json_frames(Kind.PING)).body == {}


def test_too_many_dimensions_cannot_be_sent():
    with pytest.raises(ProtocolError, match=f"at most {MAX_NDIM}"):
        tensor_frames(Kind.TENSOR, torch.zeros([1] * (MAX_NDIM + 1)), request=1, vertex=0)


def _garble(frames, offset, value):
    head = bytearray(frames[0])
    head[offset] = value
    return [bytes(head), *frames[1:]]


GOOD = tensor_frames(Kind.TENSOR, torch.ones(2, 3), request=5, vertex=1)


@pytest.mark.parametrize(
    "frames, reason",
    [
        ([GOOD[0]], "expected 2 or 3 frames"),
        ([GOOD[0][:-3], GOOD[1]], "header is"),
        ([GOOD[0], bytes(GOOD[1])[:-4]], "payload is 20 bytes, header says 24"),
        (_garble(GOOD, 0, ord("X")), "bad magic"),
        (_garble(GOOD, 2, 99), "protocol version 99"),
        (_garble(GOOD, 3, 200), "unknown message kind 200"),
        (_garble(GOOD, 20, 77), "unknown dtype code 77"),
        (_garble(GOOD, 21, 9), "ndim 9"),
        (_garble(GOOD, 22, 5), r"shape \(5, 3\)"),
        ([json_frames(Kind.PING)[0], b"\xff\xfe"], "not JSON"),
        ([json_frames(Kind.PING)[0], b"[]"], "JSON list"),
        ([*json_frames(Kind.PING), b"extra"], "PING with flags 0 needs 2 frames, got 3"),
    ],
)
def test_malformed_messages_are_rejected_with_a_reason(frames, reason):
    with pytest.raises(ProtocolError, match=reason):
        decode([bytes(f) for f in frames])


def test_oversized_payload_is_rejected_before_decoding():
    frames = tensor_frames(Kind.TENSOR, torch.zeros(1000), request=1, vertex=0)
    with pytest.raises(ProtocolError, match="exceeds the limit 1024"):
        decode(frames, max_bytes=1024)
    assert decode(frames, max_bytes=4000).tensor.numel() == 1000


def test_control_payload_is_json_never_pickle():
    header, payload = json_frames(Kind.STATS, {"x": 1})
    assert json.loads(payload) == {"x": 1}
