"""Single-inference latency distributed vs one process, and per-tensor transport cost.

Run all in one go so ratios hold on a noisy machine:

    pytest benchmarks/test_bench_executor.py --benchmark-only --benchmark-columns=median,iqr,rounds

Latency: a 40-vertex DP network (3×32×32) on 1 process / 1 thread, 1 process / all
threads (intra-op parallelism, the status quo), 2 local workers over ipc and over tcp,
and 2 in-process workers (inproc transport). Transport: one tensor of each size sent
through parawire's protocol (header frame + zero-copy payload, decoded with
``torch.frombuffer``) against raw pyzmq sending the same bytes, both over tcp loopback.
"""

from __future__ import annotations

import os
import warnings

import pytest
import torch
import zmq
from parawire.architecture import build_architecture
from parawire.executor.coordinator import Cluster
from parawire.executor.local import LocalWorkers
from parawire.executor.plan import partition_architecture, plan_for
from parawire.executor.protocol import Kind, decode, tensor_frames
from parawire.nn import build_network
from parawire.spec import ArchitectureSpec
from parawire.threads import torch_threads

SPEC = ArchitectureSpec(generator="dp", nodes=40, input_shape=(3, 32, 32))


@pytest.fixture(scope="module")
def model():
    arch = build_architecture(SPEC)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = plan_for(arch, partition_architecture(arch, 2), units=2)
    x = torch.randn(1, 3, 32, 32)
    net = build_network(arch).eval()
    return net, plan, x


@pytest.mark.parametrize("threads", [1, os.cpu_count() or 1], ids=["1thread", "allthreads"])
def test_bench_single_process(benchmark, model, threads):
    net, _, x = model
    with torch_threads(threads), torch.inference_mode():
        benchmark(net, x)


@pytest.mark.parametrize("transport, kind", [("zmq", "ipc"), ("zmq", "tcp"), ("inproc", "ipc")],
                         ids=["2workers-ipc", "2workers-tcp", "2workers-inproc"])
def test_bench_two_workers(benchmark, model, transport, kind):
    net, plan, x = model
    with torch.inference_mode():
        reference = net(x)
    # inproc: the thread count is process-wide, so each worker thread then runs one core
    with torch_threads(1 if transport == "inproc" else None), LocalWorkers(2, transport, kind) as workers, \
            Cluster.connect(workers.endpoints, transport) as cluster:
        cluster.deploy(SPEC, plan)
        assert torch.allclose(cluster.infer(x), reference, rtol=1e-4, atol=1e-5)
        benchmark(cluster.infer, x)
        assert cluster.stats().bytes_per_inference == plan.cut_bytes


SIZES = {"64B": 16, "32KB": 8 * 1024, "320KB": 80 * 1024, "3MB": 800 * 1024}


@pytest.fixture(scope="module")
def pipe():
    ctx = zmq.Context()
    rx = ctx.socket(zmq.PULL)
    port = rx.bind_to_random_port("tcp://127.0.0.1")
    tx = ctx.socket(zmq.PUSH)
    tx.connect(f"tcp://127.0.0.1:{port}")
    yield tx, rx
    tx.close(linger=0)
    rx.close(linger=0)
    ctx.term()


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_bench_transport_parawire(benchmark, pipe, size):
    tx, rx = pipe
    t = torch.randn(SIZES[size])

    def one():
        tx.send_multipart(tensor_frames(Kind.TENSOR, t, request=1, vertex=3, unit=0), copy=False)
        return decode(rx.recv_multipart(copy=False)).tensor

    assert torch.equal(benchmark(one), t)


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_bench_transport_raw_pyzmq(benchmark, pipe, size):
    tx, rx = pipe
    payload = torch.randn(SIZES[size]).numpy().tobytes()

    def one():
        tx.send(payload, copy=False)
        return rx.recv(copy=False)

    assert len(benchmark(one)) == len(payload)
