"""Request isolation: sessions, sender checks, takeover between coordinators, and
deployments that are checked completely before they replace the one being served."""

from __future__ import annotations

import threading
import time

import psutil
import pytest
import torch
import zmq
from executor_toy import TOY_SPEC, toy_builder, toy_dag, toy_reference
from parawire.errors import ParawireError
from parawire.executor.coordinator import Cluster
from parawire.executor.local import LocalWorkers
from parawire.executor.plan import Plan
from parawire.executor.protocol import COORDINATOR, SOURCE, Kind, json_frames, tensor_frames
from parawire.executor.transport import InprocTransport, inproc_address
from parawire.executor.worker import Worker, network_blocks
from parawire.graph.spec import ArchitectureSpec

DAG = toy_dag()
TWO = [0, 1, 0, 1, 1, 0, 1, 0, 0, 1]
OTHER = [1, 0, 1, 0, 0, 1, 0, 1, 1, 0]
TAKEOVER = "taken over by another coordinator"


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, atol=1e-6, rtol=0)


@pytest.fixture(params=["inproc", "zmq"])
def workers(request):
    kind = request.param
    with LocalWorkers(2, kind, "tcp", in_threads=True, builder=toy_builder) as local:
        local.kind = kind
        yield local


def connect(workers, timeout=5.0) -> Cluster:
    return Cluster.connect(workers.endpoints, workers.kind, timeout=timeout)


def wait_until(condition, timeout=5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_in_sequence_the_second_coordinator_takes_over_and_the_first_is_told(workers):
    x, y = torch.randn(1, 3, 6, 6), torch.randn(1, 3, 6, 6)
    with connect(workers) as a, connect(workers) as b:
        a.deploy(TOY_SPEC, Plan.build(DAG, TWO))
        assert close(a.infer(x), toy_reference(DAG, x))
        b.deploy(TOY_SPEC, Plan.build(DAG, OTHER))
        assert close(b.infer(y), toy_reference(DAG, y))
        with pytest.raises(ParawireError, match=rf"unit \d \(.*\) failed: this worker was {TAKEOVER}'s deployment; deploy again"):
            a.infer(x)
        with pytest.raises(ParawireError, match="deploy again before the next request"):
            a.infer(x)
        assert close(b.infer(y), toy_reference(DAG, y))  # b is not disturbed by a's refused requests
        a.deploy(TOY_SPEC, Plan.build(DAG, TWO))  # take it back
        assert close(a.infer(x), toy_reference(DAG, x))
        with pytest.raises(ParawireError, match=TAKEOVER):
            b.infer(y)


def test_concurrent_coordinators_never_get_a_wrong_result_without_an_error(workers):
    outcomes = {"right": 0, "error": 0, "wrong": 0}
    lock = threading.Lock()
    both_deployed = threading.Barrier(2)  # so that one of them surely lost some workers

    def client(seed: int, partition: list[int]) -> None:
        gen = torch.Generator().manual_seed(seed)
        with connect(workers, timeout=2.0) as c:
            try:
                c.deploy(TOY_SPEC, Plan.build(DAG, partition))
                deployed = True
            except ParawireError:
                deployed = False
            both_deployed.wait()
            for _ in range(25):
                x = torch.randn(1, 3, 5, 5, generator=gen) + seed  # distinct per coordinator
                try:
                    if not deployed:
                        c.deploy(TOY_SPEC, Plan.build(DAG, partition))
                        deployed = True
                    out = c.infer(x)
                    kind = "right" if close(out, toy_reference(DAG, x)) else "wrong"
                except ParawireError:
                    kind, deployed = "error", False
                with lock:
                    outcomes[kind] += 1

    threads = [threading.Thread(target=client, args=(s, p)) for s, p in ((1, TWO), (2, OTHER))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes["wrong"] == 0, outcomes
    assert outcomes["right"] + outcomes["error"] == 50 and outcomes["error"] > 0, outcomes


@pytest.fixture
def zmq_workers():
    with LocalWorkers(2, "zmq", "tcp", in_threads=True, builder=toy_builder) as local:
        yield local


def test_forged_tensors_are_dropped_and_the_real_answers_are_unchanged(zmq_workers):
    plan = Plan.build(DAG, TWO)
    unit1 = plan.unit_plans[1]
    remote_vertex, producer = next(iter(unit1.receives.items()))  # a vertex unit 1 gets from unit 0
    local_vertex = unit1.vertices[0]
    worker = zmq_workers.workers[1]
    ctx = zmq.Context()
    forger = ctx.socket(zmq.DEALER)
    forger.linger = 0
    forger.connect(zmq_workers.endpoints[1])
    try:
        with Cluster.connect(zmq_workers.endpoints, timeout=5.0) as owner:
            owner.deploy(TOY_SPEC, plan)
            before = worker.dropped
            fake = torch.full((1, 3, 4, 4), 100.0)
            forged = []
            for rid in range(1, 6):  # the ids the owner's next requests will use
                forged += [
                    tensor_frames(Kind.TENSOR, fake, request=rid, vertex=remote_vertex, unit=producer),  # no token
                    tensor_frames(Kind.TENSOR, fake, request=rid, vertex=remote_vertex, unit=producer,
                                  session=bytes(range(16))),  # a guessed token
                    # the right token (leaked) from the wrong unit, for a local vertex, and as an input
                    tensor_frames(Kind.TENSOR, fake, request=rid, vertex=remote_vertex, unit=1 - producer,
                                  session=owner.session),
                    tensor_frames(Kind.TENSOR, fake, request=rid, vertex=local_vertex, unit=0, session=owner.session),
                    tensor_frames(Kind.INPUT, fake, request=rid, vertex=SOURCE, unit=COORDINATOR,
                                  session=owner.session),
                    json_frames(Kind.CANCEL, request=rid, session=owner.session),
                ]
            for frames in forged:
                forger.send_multipart(frames)
            wait_until(lambda: worker.dropped - before == len(forged))
            for _ in range(5):
                x = torch.randn(1, 3, 4, 4)
                assert close(owner.infer(x), toy_reference(DAG, x))
            assert worker.dropped - before == len(forged)
    finally:
        forger.close()
        ctx.term()


def test_an_invalid_deployment_leaves_the_previous_one_serving(zmq_workers):
    plan = Plan.build(DAG, TWO)
    broken = plan.model_copy(update={"unit_plans": plan.unit_plans[::-1]})
    too_few = plan.model_copy(update={"input_units": []})
    ctx = zmq.Context()
    raw = ctx.socket(zmq.DEALER)
    raw.linger = 0
    raw.connect(zmq_workers.endpoints[0])
    try:
        with Cluster.connect(zmq_workers.endpoints, timeout=5.0) as owner, \
                Cluster.connect(zmq_workers.endpoints, timeout=5.0) as other:
            owner.deploy(TOY_SPEC, plan)
            for bad, reason in [(broken, "units 0..1 in order"), (too_few, "plan.input_units: got"),]:
                with pytest.raises(ParawireError, match=f"deployment failed: .*{reason}"):
                    other.deploy(TOY_SPEC, bad)
            for body in ({}, {"spec": {}, "plan": 1, "unit": 0}, {"spec": {}, "plan": plan.model_dump(), "unit": 70000}):
                raw.send_multipart(json_frames(Kind.DEPLOY, body, session=b"s" * 16))
                assert raw.poll(5000), "no answer to a bad deployment"
                assert b"deployment failed" in raw.recv_multipart()[-1]
            x = torch.randn(1, 3, 4, 4)
            assert close(owner.infer(x), toy_reference(DAG, x))
            assert owner.stats().inferences == 1
    finally:
        raw.close()
        ctx.term()


HUGE = ArchitectureSpec(generator="dp", nodes=40, input_shape=(3, 224, 224), base_channels=512, channel_cap=4096)


def test_a_deployment_over_the_memory_limit_is_refused_before_anything_is_allocated():
    built = []

    def builder(spec, unit_plan, weights=None):
        built.append(unit_plan.unit)
        return network_blocks(spec, unit_plan, weights)

    builder.estimate = network_blocks.estimate
    worker = Worker(InprocTransport(), inproc_address(), builder=builder, threads=None, max_deploy_bytes=256 << 20)
    thread = worker.start()
    rss = psutil.Process().memory_info().rss
    try:
        from parawire.pipeline.build import build_architecture

        arch = build_architecture(HUGE)
        plan = Plan.build(arch.dag, [0] * arch.dag.graph.number_of_nodes())
        with Cluster.connect([worker.address], "inproc", timeout=5.0) as c:
            started = time.monotonic()
            with pytest.raises(ParawireError, match=r"unit 0 needs about \d+ MiB \(parameters \+ activations\),"
                                                    r" over this worker's limit of 256 MiB.*--max-deploy-bytes"):
                c.deploy(HUGE, plan)
            assert time.monotonic() - started < 5.0
        assert built == [] and worker.runner is None
        assert psutil.Process().memory_info().rss - rss < 64 << 20
    finally:
        worker.stop()
        thread.join()


def test_the_default_limit_refuses_the_reported_26_gb_deployment():
    from parawire.executor.worker import DEFAULT_MAX_DEPLOY_BYTES, network_bytes
    from parawire.pipeline.build import build_architecture

    spec = HUGE.model_copy(update={"base_channels": 4096, "channel_cap": 16384})
    arch = build_architecture(spec)
    plan = Plan.build(arch.dag, [0] * arch.dag.graph.number_of_nodes())
    assert network_bytes(spec.model_dump(mode="json"), plan.unit_plans[0]) > DEFAULT_MAX_DEPLOY_BYTES
    small = build_architecture(ArchitectureSpec(generator="dp", nodes=12, input_shape=(3, 16, 16), base_channels=8))
    small_plan = Plan.build(small.dag, [0] * small.dag.graph.number_of_nodes())
    need = network_bytes(small.spec.model_dump(mode="json"), small_plan.unit_plans[0])
    params = small.costs.total_params * 4
    assert params < need < params + 4 * int(small.costs.out_bytes.sum()) + 4 * 3 * 16 * 16
