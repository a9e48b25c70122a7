"""Single-inference latency distributed vs one process, and per-tensor transport cost.

Run all in one go so ratios hold on a noisy machine:

    pytest benchmarks/test_bench_executor.py --benchmark-only --benchmark-columns=median,iqr,rounds

Latency: a 40-vertex DP network (3×32×32) on 1 process / 1 thread, 1 process / all
threads (intra-op parallelism, the status quo), 2 local workers over ipc and over tcp,
and 2 in-process workers (inproc transport). Transport: one tensor of each size sent
through parawire's protocol (header frame + zero-copy payload, decoded with
``torch.frombuffer``) against raw pyzmq sending the same bytes, both over tcp loopback.
Copy threshold: FB-40 on 2 tcp workers with pyzmq's threshold (frames from 64 KiB lent
to libzmq) against parawire's (``transport_zmq.COPY_BELOW``), with the workers' CPU
outside their tasks per inference beside the latency.
"""

from __future__ import annotations

import os

import pytest
import torch
import zmq
from parawire.executor.protocol import Kind, decode, tensor_frames
from parawire.graph.spec import ArchitectureSpec
from parawire.testing.suite import measure

SPEC = ArchitectureSpec(generator="dp", nodes=40, input_shape=(3, 32, 32))
THREADS = {"1thread": 1, "allthreads": os.cpu_count() or 1}


# The latency rows use the same fixtures and conventions as a user's latency suite
# (docs/latency-suites.md): one group for the architecture, extra_info on every row.
@pytest.mark.parametrize("threads", THREADS.values(), ids=list(THREADS))
def test_bench_single_process(benchmark, parawire_single, threads):
    measure(benchmark, parawire_single(SPEC, threads=threads))


@pytest.mark.parametrize("transport, kind", [("zmq", "ipc"), ("zmq", "tcp"), ("inproc", "ipc")],
                         ids=["2workers-ipc", "2workers-tcp", "2workers-inproc"])
def test_bench_two_workers(benchmark, parawire_cluster, transport, kind):
    # inproc: the thread count is process-wide, so each worker thread then runs one core
    cluster = parawire_cluster(SPEC, units=2, transport=transport, endpoint_kind=kind)
    measure(benchmark, cluster)  # checks the logits against the single process
    assert benchmark.extra_info["bytes_per_inference"] == cluster.plan.cut_bytes


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


FB = ArchitectureSpec(generator="fb", nodes=40, input_shape=(3, 32, 32))
COPY_BELOW = {"lend-from-64KiB": 64 * 1024, "lend-from-default": None}


@pytest.mark.parametrize("copy_below", COPY_BELOW.values(), ids=list(COPY_BELOW))
def test_bench_two_workers_copy_below(benchmark, parawire_cluster, copy_below):
    """FB-40 at 32 px on 2 tcp workers, whose activations (64–128 KB) pyzmq's own threshold
    lends to libzmq and parawire's copies (``transport_zmq.COPY_BELOW``); ``extra_info``
    has the workers' CPU per inference outside their tasks, where the difference is."""
    from parawire.testbed.breakdown import task_totals
    from parawire.testbed.counters import process_cpu_ns

    params = {} if copy_below is None else {"copy_below": copy_below}
    cluster = parawire_cluster(FB, units=2, endpoint_kind="tcp", engine="onnxruntime",
                               transport_params=params)
    pids = [p.pid for p in cluster.workers.processes]
    before, cpu = cluster.stats(), [process_cpu_ns(pid) for pid in pids]
    measure(benchmark, cluster)
    after = cluster.stats()
    process = sum(process_cpu_ns(pid) - ns for pid, ns in zip(pids, cpu)) / 1e9
    tasks, _ = task_totals(before.per_unit, after.per_unit)
    inferences = after.inferences - before.inferences
    benchmark.extra_info["outside_tasks_ms_per_inference"] = (process - tasks) * 1e3 / inferences
    assert benchmark.extra_info["bytes_per_inference"] == cluster.plan.cut_bytes
