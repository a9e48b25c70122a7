"""Faults: a worker killed mid-request, malformed frames, and CURVE authentication."""

from __future__ import annotations

import time

import pytest
import torch
import zmq
from executor_real import case
from executor_toy import TOY_SPEC, toy_builder, toy_dag, toy_reference
from parawire.errors import ParawireError
from parawire.executor.coordinator import Cluster
from parawire.executor.local import LocalWorkers
from parawire.executor.plan import Plan
from parawire.executor.protocol import Kind, json_frames, tensor_frames
from parawire.executor.security import Curve, generate_keys
from parawire.executor.transport_zmq import ZmqTransport
from parawire.executor.worker import Worker

TWO_UNITS = [0, 1, 0, 1, 1, 0, 1, 0, 0, 1]


@pytest.mark.slow
def test_killed_worker_is_named_within_the_timeout_and_the_others_serve_on():
    spec, plan, x, reference = case("dp", 4)
    with LocalWorkers(4, endpoint_kind="ipc") as workers:
        with Cluster.connect(workers.endpoints, timeout=5.0) as cluster:
            cluster.deploy(spec, plan)
            rids = [cluster.submit(x) for _ in range(40)]
            workers.kill(2)
            started = time.monotonic()
            with pytest.raises(ParawireError, match=r"unit 2 \(ipc://.*unit2\) disconnected"):
                for rid in rids:
                    cluster.result(rid)
            assert time.monotonic() - started < 5.0
            with pytest.raises(ParawireError, match="deploy again"):
                cluster.infer(x)
        survivors = [e for i, e in enumerate(workers.endpoints) if i != 2]
        spec3, plan3, x3, reference3 = case("dp", 2)
        with Cluster.connect(survivors, timeout=5.0) as cluster:
            cluster.deploy(spec3, plan3)
            assert torch.allclose(cluster.infer(x3), reference3, rtol=1e-5, atol=1e-6)


def _raw_dealer(address: str) -> tuple[zmq.Context, zmq.Socket]:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(address)
    return ctx, sock


def test_malformed_frames_are_dropped_and_the_worker_still_answers_correctly():
    dag = toy_dag()
    with LocalWorkers(2, endpoint_kind="tcp", in_threads=True, builder=toy_builder) as workers:
        for w in workers.workers:
            w.max_bytes = 4096
        good = tensor_frames(Kind.TENSOR, torch.ones(2, 3), request=5, vertex=1)
        head = bytearray(good[0])
        head[2] = 9  # version
        garbage = [
            [b"hello"],
            [b"\x00" * 7, b"x"],
            [bytes(head), good[1]],
            [good[0], bytes(good[1])[:-4]],
            [json_frames(Kind.PING)[0], b"\xff\xfe"],
            tensor_frames(Kind.TENSOR, torch.zeros(1500), request=1, vertex=0),  # 6000 B > 4096
        ]
        ctx, sock = _raw_dealer(workers.endpoints[1])
        for frames in garbage:
            sock.send_multipart([bytes(f) for f in frames])
        with Cluster.connect(workers.endpoints, timeout=5.0) as cluster:
            cluster.deploy(TOY_SPEC, Plan.build(dag, TWO_UNITS))
            x = torch.randn(1, 3, 8, 8)
            assert torch.allclose(cluster.infer(x), toy_reference(dag, x), atol=1e-6, rtol=0)
            assert workers.workers[1].dropped == len(garbage)
        sock.close()
        ctx.term()


@pytest.fixture
def keys(tmp_path):
    return generate_keys(tmp_path / "keys")


def _curve_workers(keys, n=2):
    curve = Curve.load(keys["server"], keys["authorized"])
    workers = [Worker(ZmqTransport(), "tcp://127.0.0.1:*", curve=curve, builder=toy_builder, threads=None)
               for _ in range(n)]
    threads = [w.start() for w in workers]
    return workers, threads


def test_curve_admits_the_key_holder_and_refuses_everyone_else(keys, tmp_path):
    dag = toy_dag()
    workers, threads = _curve_workers(keys)
    endpoints = [w.address for w in workers]
    try:
        strangers = generate_keys(tmp_path / "strangers")
        with Cluster.connect(endpoints, timeout=1.0, curve_secret=strangers["client"],
                             curve_server=keys["server_public"]) as intruder:
            with pytest.raises(ParawireError, match=r"unit \d \(tcp://127.0.0.1:\d+\) .*(refused|handshake|no answer)"):
                intruder.deploy(TOY_SPEC, Plan.build(dag, TWO_UNITS), timeout=1.0)
        with Cluster.connect(endpoints, timeout=1.0) as plain:
            with pytest.raises(ParawireError, match=r"unit \d \(tcp://127.0.0.1:\d+\)"):
                plain.deploy(TOY_SPEC, Plan.build(dag, TWO_UNITS), timeout=1.0)
        assert all(w.runner is None for w in workers)  # nobody deployed anything
        with Cluster.connect(endpoints, timeout=5.0, curve_secret=keys["client"],
                             curve_server=keys["server_public"]) as owner:
            owner.deploy(TOY_SPEC, Plan.build(dag, TWO_UNITS))  # peers authenticate each other too
            x = torch.randn(1, 3, 8, 8)
            assert torch.allclose(owner.infer(x), toy_reference(dag, x), atol=1e-6, rtol=0)
            assert owner.stats().peer_bytes > 0
    finally:
        for w in workers:
            w.stop()
        for t in threads:
            t.join()


def test_curve_needs_a_secret_key_file(keys):
    with pytest.raises(ParawireError, match="holds no secret key"):
        Curve.load(keys["server_public"])
