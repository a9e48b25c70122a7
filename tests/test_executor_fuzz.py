"""Hostile messages against real worker processes (``parawire worker``), class by class.

Each class sends structured malformed messages from a raw ZeroMQ socket: every header
field at and past its bounds, inconsistent flags and frame counts, deep and huge JSON,
out-of-range ids, broken deployments, oversized multipart messages, forged tensors. After
each class both workers must still be running, must have counted exactly the drops (and
answered exactly the refused deployments) the class implies, and must return the right
logits for a fresh deployment. At the end their logs hold one line per shown drop, no
traceback, and a flood is rate-limited.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch
import zmq
from executor_real import case
from parawire.executor.coordinator import Cluster
from parawire.executor.local import READY_PREFIX
from parawire.executor.protocol import (
    COORDINATOR,
    HEADER,
    MAGIC,
    MAX_NDIM,
    SOURCE,
    VERSION,
    Kind,
    json_frames,
    tensor_frames,
)

pytestmark = pytest.mark.slow

LIMIT = 1 << 20  # --max-message-bytes of the workers under attack
SESSION = b"\x01" * 16
U32, U64 = 2**32 - 1, 2**64 - 1


def header(kind=Kind.TENSOR, *, flags=0, unit=0, request=1, vertex=1, dtype=1, ndim=2, dims=(2, 3), length=24,
           session=SESSION, magic=MAGIC, version=VERSION) -> bytes:
    dims = tuple(dims) + (0,) * (MAX_NDIM - len(dims))
    return HEADER.pack(magic, version, kind, flags, unit, request, vertex, dtype, ndim, *dims, length, session)


def control(kind, payload: bytes, **fields) -> list[bytes]:
    return [header(kind, dtype=0, ndim=0, dims=(), length=len(payload), **fields), payload]


P24 = b"\0" * 24
SPEC, PLAN, X, REFERENCE = case("dp", 2)
BODY = {"spec": SPEC.model_dump(mode="json"), "plan": PLAN.model_dump(mode="json"), "unit": 1,
        "peers": {"0": {"address": "tcp://127.0.0.1:1"}, "1": {"address": "tcp://127.0.0.1:1"}}}


def deploy(**changes) -> list:
    return json_frames(Kind.DEPLOY, {**BODY, **changes}, session=SESSION)


def plan_with(**changes) -> dict:
    return {**BODY["plan"], **changes}


# Every class: (frames, outcome) with outcome "drop" (counted), "error" (a deployment
# refused with an ERROR reply), "over" (a message over the limit, on a connection of its
# own: counted once, whether the worker's guard cuts it while it arrives or it arrives
# whole and is discarded) or "cut" (a frame over the limit, on a connection of its own:
# libzmq closes the connection when it reads the frame's length, uncounted, unless the
# guard cuts it first, counted).
CLASSES = {
    "frame counts": [([header()], "drop"), ([header(), P24, b"", b""], "drop"), ([header()] * 10, "drop"),
                     ([header(), P24, b"w"], "drop"), ([b"x"], "drop")],
    "header sizes": [([b"", P24], "drop"), ([header()[:-1], P24], "drop"), ([header() + b"\0", P24], "drop"),
                     ([b"x" * 1000, P24], "drop")],
    "magic, version and kind": [([header(magic=b"XX"), P24], "drop")]
    + [([header(version=v), P24], "drop") for v in (0, VERSION - 1, VERSION + 1, 255)]
    + [([header(kind=k), P24], "drop") for k in (0, 12, 255)]
    + [(json_frames(k), "drop") for k in (Kind.READY, Kind.ERROR, Kind.PONG)]
    + [(tensor_frames(Kind.RESULT, torch.ones(2), request=1, vertex=1), "drop")],
    "flags and frame counts": [
        (control(Kind.PING, b"{}", flags=1), "drop"),  # promises a weights frame that is not there
        (control(Kind.DEPLOY, b"{}", flags=1), "drop"),
        ([*control(Kind.DEPLOY, b"{}"), b"weights"], "drop"),
        ([header(flags=1), P24, b"w"], "drop"),
        *[(control(Kind.PING, b"{}", flags=f), "drop") for f in (2, 3, 128, 255)],
    ],
    "dimensions and element counts": [
        ([header(ndim=3, dims=(0, U32, U32), length=0), b""], "drop"),  # overflowed torch's size arithmetic
        ([header(ndim=6, dims=(U32,) * 6, length=0), b""], "drop"),
        ([header(ndim=2, dims=(U32, U32), dtype=4, length=0), b""], "drop"),
        ([header(ndim=2, dims=(U32 // 2 + 1, 8), length=16), b"\0" * 16], "drop"),  # wraps at 2**64 bytes?
        *[([header(ndim=n), P24], "drop") for n in (7, 128, 255)],
        ([header(ndim=1, dims=(6, 1)), P24], "drop"),  # a dimension past ndim
        ([header(ndim=2, dims=(3, 3)), P24], "drop"),
    ],
    "dtypes and lengths": [
        *[([header(dtype=d), P24], "drop") for d in (0, 10, 255)],
        ([header(length=U64), P24], "drop"),
        ([header(length=LIMIT + 1), P24], "drop"),
        ([header(length=23), P24], "drop"),
        ([header(dtype=9, dims=(2, 3), length=6), b"\x07" * 6], "drop"),  # bool of any byte; not deployed
    ],
    "ids out of range": [
        ([header(unit=u, request=r, vertex=v), P24], "drop")
        for u, r, v in [(COORDINATOR, 0, SOURCE), (COORDINATOR - 1, U64, 2**31 - 1), (0, 1, -(2**31)), (1, 2, -1)]
    ] + [(tensor_frames(Kind.INPUT, torch.ones(1, 3, 16, 16), request=U64, vertex=SOURCE, session=SESSION), "drop")],
    "deep and huge JSON": [
        (control(Kind.PING, b"[" * 200_000 + b"]" * 200_000), "drop"),
        (control(Kind.DEPLOY, b'{"unit":' + b"9" * 100_000 + b"}"), "drop"),
        (control(Kind.STATS, b'{"a":' * 5_000 + b"1" + b"}" * 5_000), "drop"),
        (control(Kind.PING, b"\xff\xfe\xfd"), "drop"),
        (control(Kind.PING, b"[1,2]"), "drop"),
        (control(Kind.PING, b'{"a":'), "drop"),
        (control(Kind.PING, b"NaN"), "drop"),
    ],
    "broken deployments": [
        (control(Kind.DEPLOY, b"{}", session=bytes(16)), "drop"),  # no session token
        (deploy(unit=2**16), "error"),  # not packable into the reply header
        (deploy(unit=-1), "error"),
        (deploy(unit=COORDINATOR), "error"),
        (json_frames(Kind.DEPLOY, {}, session=SESSION), "error"),
        (deploy(plan=plan_with(units=0)), "error"),
        (deploy(plan=plan_with(partition=[7] * len(PLAN.partition))), "error"),
        (deploy(plan=plan_with(output_vertex=2**40)), "error"),
        (deploy(plan=plan_with(input_units=[9])), "error"),
        (deploy(peers={}), "error"),
        (deploy(peers={"0": {"address": "no-such-scheme://x"}}), "error"),
        (deploy(spec={**BODY["spec"], "nodes": -3}), "error"),
        (deploy(spec={**BODY["spec"], "input_shape": [3, 4096, 4096], "base_channels": 4096,
                      "channel_cap": 16384}), "error"),  # would need gigabytes
        (json_frames(Kind.DEPLOY, BODY, weights=b"not safetensors", session=SESSION), "error"),
        (deploy(extra=[[[1]]]), "error"),
    ],
    "oversized messages": [
        ([header(), P24] + [b"\0" * (300 << 10)] * 5, "over"),  # each frame under the limit, the whole over it
        ([*control(Kind.DEPLOY, b"{}", flags=1), b"\0" * (LIMIT - 10)], "drop"),
        ([header(ndim=1, dims=((LIMIT + 8192) // 4,), length=LIMIT + 8192), b"\0" * (LIMIT + 8192)], "cut"),
    ],
}


def _start(tmp) -> tuple[subprocess.Popen, str]:
    log = open(tmp, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "parawire", "worker", "--bind", "tcp://127.0.0.1:*", "--max-message-bytes",
         str(LIMIT), "--max-parked-bytes", str(4 << 20), "--exit-with-parent"],
        stdout=subprocess.PIPE, stderr=log, text=True,
    )
    log.close()
    line = proc.stdout.readline()
    assert line.startswith(READY_PREFIX), line
    return proc, line[len(READY_PREFIX):].strip()


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    logs = [tmp_path_factory.mktemp("fuzz") / f"worker{i}.log" for i in range(2)]
    started = [_start(log) for log in logs]
    state = {"procs": [p for p, _ in started], "endpoints": [e for _, e in started], "logs": logs,
             "dropped": [0, 0]}
    yield state
    for proc in state["procs"]:
        proc.kill()
        proc.wait()
        proc.stdout.close()


class Raw:
    """A raw DEALER: sends anything, then waits until the worker has handled all of it."""

    def __init__(self, endpoint: str):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.connect(endpoint)

    def send(self, frames) -> None:
        self.sock.send_multipart([bytes(f) for f in frames])

    def sync(self, timeout_ms: int = 20_000, cut: bool = False) -> list[list[bytes]]:
        """Ping and collect every reply until the pong (messages of one connection stay in
        order); ``cut``: the connection may have been cut, so no pong is no failure."""
        self.send(json_frames(Kind.PING, request=424242))
        replies = []
        while self.sock.poll(timeout_ms):
            reply = self.sock.recv_multipart()
            if HEADER.unpack(reply[0])[2] == Kind.PONG:
                return replies
            replies.append(reply)
        if cut:
            return replies
        raise AssertionError("the worker did not answer a ping after the attack")

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()


def assert_serving(workers) -> list[int]:
    """Both processes alive, and a fresh deployment gives the single-process logits."""
    assert [p.poll() for p in workers["procs"]] == [None, None]
    with Cluster.connect(workers["endpoints"], timeout=20.0) as cluster:
        cluster.deploy(SPEC, PLAN)
        assert torch.allclose(cluster.infer(X), REFERENCE, rtol=1e-5, atol=1e-6)
        return [u["dropped"] for u in cluster.stats().per_unit]


@pytest.mark.parametrize("name", CLASSES)
def test_a_class_of_hostile_messages_is_survived(workers, name):
    target = 1
    raw = Raw(workers["endpoints"][target])
    try:
        for frames, outcome in CLASSES[name]:
            if outcome in ("drop", "error"):
                raw.send(frames)
        replies = raw.sync()
    finally:
        raw.close()
    for frames, outcome in CLASSES[name]:  # each on a connection of its own: it may be closed
        if outcome in ("over", "cut"):
            raw = Raw(workers["endpoints"][target])
            raw.send(frames)
            raw.sock.linger = 5000  # deliver it before closing
            if outcome == "over":
                raw.sync(timeout_ms=5000, cut=True)  # answered if it was discarded whole
            raw.close()
    outcomes = [o for _, o in CLASSES[name]]
    errors = [HEADER.unpack(r[0])[2] for r in replies]
    assert errors == [Kind.ERROR] * outcomes.count("error")
    assert all(b"deployment failed" in r[1] for r in replies)
    dropped = assert_serving(workers)
    counted = outcomes.count("drop") + outcomes.count("over")
    assert counted <= dropped[target] - workers["dropped"][target] <= counted + outcomes.count("cut")
    assert dropped[1 - target] == workers["dropped"][1 - target]
    workers["dropped"] = dropped


def test_forged_and_mistyped_tensors_from_strangers_never_change_an_answer(workers):
    with Cluster.connect(workers["endpoints"], timeout=20.0) as owner:
        owner.deploy(SPEC, PLAN)
        before = [u["dropped"] for u in owner.stats().per_unit]
        raws = [Raw(e) for e in workers["endpoints"]]
        try:
            sent = [0, 0]
            for target, raw in enumerate(raws):
                receives = PLAN.unit_plans[target].receives
                for vertex, producer in receives.items():
                    for rid in range(1, 4):
                        for t in (torch.ones(1, 8, 8, 8), torch.ones(3, dtype=torch.int64), torch.ones(1, dtype=torch.bool)):
                            for session in (bytes(16), SESSION, owner.session):
                                unit = producer if session != owner.session else 1 - producer
                                raw.send(tensor_frames(Kind.TENSOR, t, request=rid, vertex=vertex, unit=unit, session=session))
                                sent[target] += 1
                raw.send(tensor_frames(Kind.INPUT, torch.ones(2), request=1, vertex=SOURCE, session=owner.session))
                raw.send(json_frames(Kind.SHUTDOWN, session=owner.session))
                sent[target] += 2
                assert raw.sync() == []
        finally:
            for raw in raws:
                raw.close()
        for _ in range(3):
            assert torch.allclose(owner.infer(X), REFERENCE, rtol=1e-5, atol=1e-6)
        after = [u["dropped"] for u in owner.stats().per_unit]
    assert [a - b for a, b in zip(after, before)] == sent
    workers["dropped"] = after


def test_a_flood_is_logged_in_few_lines_without_tracebacks(workers):
    size = workers["logs"][1].stat().st_size
    raw = Raw(workers["endpoints"][1])
    try:
        started = time.monotonic()
        for i in range(2000):
            raw.send([header(version=i % 256 if i % 256 != VERSION else 0), P24])
        raw.sync()
        seconds = time.monotonic() - started
    finally:
        raw.close()
    dropped = assert_serving(workers)
    assert dropped[1] - workers["dropped"][1] == 2000
    workers["dropped"] = dropped
    with open(workers["logs"][1]) as log:
        log.seek(size)
        new = log.read().splitlines()
    assert len(new) <= 11 * (seconds + 2), f"{len(new)} lines for 2000 drops in {seconds:.1f} s"
    text = "\n".join(open(p).read() for p in workers["logs"])
    assert "Traceback" not in text and "dropped a message" in text
