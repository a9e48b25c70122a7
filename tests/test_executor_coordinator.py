"""The coordinator against a misbehaving worker: every result is checked, and the only
exception that ever reaches the caller is a ``ParawireError``."""

from __future__ import annotations

import threading

import pytest
import torch
import zmq
from executor_real import case
from parawire.errors import ParawireError
from parawire.executor.coordinator import Cluster
from parawire.executor.protocol import (
    HEADER,
    MAGIC,
    MAX_NDIM,
    VERSION,
    Kind,
    decode,
    json_frames,
    tensor_frames,
)

SPEC, PLAN, X, REFERENCE = case("dp", 1)
OUT = PLAN.output_vertex


def deep_error(msg):
    payload = b"[" * 50_000 + b"]" * 50_000
    head = HEADER.pack(MAGIC, VERSION, Kind.ERROR, 0, 0, msg.request, 0, 0, 0, *[0] * MAX_NDIM, len(payload),
                       msg.session)
    return [[head, payload]]


def result(tensor, **fields):
    def reply(msg):
        base = {"request": msg.request, "vertex": OUT, "unit": 0, "session": msg.session}
        return [tensor_frames(Kind.RESULT, tensor, **{**base, **fields})]
    return reply


BEHAVIOURS = {
    "wrong dtype": (result(REFERENCE.double()), r"returned a torch.float64 tensor of shape \(1, 10\) for request 1;"
                                                r" expected torch.float32 logits of shape \(1, 10\)"),
    "wrong shape": (result(torch.zeros(1, 7)), r"tensor of shape \(1, 7\) for request 1"),
    "scalar": (result(torch.tensor(1.0)), r"tensor of shape \(\) for request 1"),
    "another session": (result(REFERENCE, session=b"x" * 16), "no result within 0.5 s although every unit answers"),
    "another request": (result(REFERENCE, request=99), "no result within"),
    "another vertex": (result(REFERENCE, vertex=OUT + 1), "no result within"),
    "deep JSON error": (deep_error, "no result within"),
    "odd error body": (lambda m: [json_frames(Kind.ERROR, {"message": {"a": [1]}, "vertex": "x"}, session=m.session)],
                       r"unit 0 \(.*\) failed: \{'a': \[1\]\}$"),
    "garbage": (lambda m: [[b"x"], [b"\0" * HEADER.size, b""], [b"PW"]], "no result within"),
}


class FakeWorker:
    """A ROUTER that deploys happily and answers each input as ``behaviour`` says."""

    def __init__(self, behaviour):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.linger = 0
        self.endpoint = f"tcp://127.0.0.1:{self.sock.bind_to_random_port('tcp://127.0.0.1')}"
        self.behaviour, self.stop = behaviour, threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stop.is_set():
            if not self.sock.poll(50):
                continue
            who, *frames = self.sock.recv_multipart()
            msg = decode(frames)
            if msg.kind is Kind.DEPLOY:
                replies = [json_frames(Kind.READY, {"unit": 0}, unit=0, session=msg.session)]
            elif msg.kind is Kind.PING:
                replies = [json_frames(Kind.PONG, {"unit": 0}, session=msg.session)]
            elif msg.kind is Kind.STATS:
                replies = [json_frames(Kind.STATS, {"sent_bytes": "many"}, session=msg.session)]
            elif msg.kind is Kind.INPUT:
                replies = self.behaviour(msg)
            else:
                replies = []
            for reply in replies:
                self.sock.send_multipart([who, *map(bytes, reply)])

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()
        self.ctx.term()


@pytest.mark.parametrize("name", BEHAVIOURS)
def test_a_misbehaving_worker_yields_a_parawire_error(name):
    behaviour, message = BEHAVIOURS[name]
    fake = FakeWorker(behaviour)
    try:
        with Cluster.connect([fake.endpoint], timeout=0.5) as cluster:
            cluster.deploy(SPEC, PLAN)
            with pytest.raises(ParawireError, match=message):
                cluster.infer(X)
    finally:
        fake.close()


def test_malformed_stats_are_a_parawire_error():
    fake = FakeWorker(result(REFERENCE))
    try:
        with Cluster.connect([fake.endpoint], timeout=1.0) as cluster:
            cluster.deploy(SPEC, PLAN)
            assert torch.equal(cluster.infer(X), REFERENCE)  # a well-behaved answer passes the checks
            with pytest.raises(ParawireError, match="sent malformed stats"):
                cluster.stats()
    finally:
        fake.close()
