"""One unit's scheduling: staged blocks prepare each input as soon as it arrives."""

from __future__ import annotations

import torch
from executor_toy import toy_block, toy_dag
from parawire.executor.plan import Plan
from parawire.executor.runner import StagedBlock, UnitRunner
from parawire.executor.worker import staged
from parawire.graph.spec import ArchitectureSpec
from parawire.network.nn import build_network
from parawire.pipeline.build import build_architecture


def test_a_step_runs_when_its_input_arrives_and_the_block_when_all_are_prepared():
    dag = toy_dag()  # vertex 5 reads 3 and 4; put 5 (and the output) alone on unit 1
    partition = [0] * dag.graph.number_of_nodes()
    partition[5] = partition[dag.output] = 1
    plan = Plan.build(dag, partition)
    log: list[str] = []

    def step(j):
        def prepare(x):
            log.append(f"step {j}")
            return x * 2

        return prepare

    def rest(inputs):
        log.append("rest")
        return toy_block(5)(inputs)

    blocks = {v: toy_block(v) for v in plan.unit_plans[1].vertices}
    blocks[5] = StagedBlock({0: step(0), 1: step(1)}, rest)
    results = {}
    runner = UnitRunner(plan.unit_plans[1], blocks, dag.output, send=None, result=results.__setitem__, error=None)
    a, b, c = torch.randn(4), torch.randn(4), torch.randn(4)
    runner.accept(7, dag.preds[5][1], b)
    assert log == ["step 1"]
    runner.accept(7, dag.preds[5][0], a)
    assert log == ["step 1", "step 0", "rest"]
    inputs = {dag.preds[5][0]: a, dag.preds[5][1]: b}
    for p in dag.preds[dag.output]:
        if p not in inputs and p != 5:
            runner.accept(7, p, c)
            inputs[p] = c
    five = toy_block(5)([a * 2, b * 2])
    expected = toy_block(dag.output)([five if p == 5 else inputs[p] for p in dag.preds[dag.output]])
    assert torch.equal(results[7], expected)
    assert runner.requests == {} and runner.completed == 1


def test_a_group_of_steps_runs_once_when_all_its_inputs_are_there():
    dag = toy_dag()
    partition = [0] * dag.graph.number_of_nodes()
    partition[5] = partition[dag.output] = 1
    plan = Plan.build(dag, partition)
    calls: list[int] = []

    def both(xs):
        calls.append(len(xs))
        return [x * 2 for x in xs]

    blocks = {v: toy_block(v) for v in plan.unit_plans[1].vertices}
    blocks[5] = StagedBlock({}, toy_block(5), groups={(0, 1): both})
    results = {}
    runner = UnitRunner(plan.unit_plans[1], blocks, dag.output, send=None, result=results.__setitem__, error=None)
    a, b, c = torch.randn(4), torch.randn(4), torch.randn(4)
    for request in (7, 8):
        runner.accept(request, dag.preds[5][1], b)
        assert len(calls) == request - 7  # one of two inputs: the group waits
        runner.accept(request, dag.preds[5][0], a)
        assert calls[-1] == 2 and len(calls) == request - 6
        for p in dag.preds[dag.output]:
            if p != 5 and p not in dag.preds[5]:
                runner.accept(request, p, c)
    five = toy_block(5)([a * 2, b * 2])
    feeds = {dag.preds[5][0]: a, dag.preds[5][1]: b, 5: five}
    expected = toy_block(dag.output)([feeds.get(p, c) for p in dag.preds[dag.output]])
    assert torch.equal(results[7], expected) and torch.equal(results[8], expected)
    assert runner.requests == {} and runner.completed == 2 and runner.parked == 0


def test_staged_network_blocks_give_bit_identical_outputs():
    arch = build_architecture(ArchitectureSpec(generator="dp", nodes=12, input_shape=(3, 16, 16)))
    net = build_network(arch).eval()
    values, split = {}, 0
    with torch.inference_mode():
        for v in arch.dag.order:
            block = net.blocks[str(v)]
            inputs = [values[p] for p in arch.dag.preds[v]] or [torch.randn(1, 3, 16, 16)]
            values[v] = block(inputs)
            part = staged(block)
            if isinstance(part, StagedBlock):
                split += 1
                prepared = [part.steps[j](x) if j in part.steps else x for j, x in enumerate(inputs)]
                assert torch.equal(part.rest(prepared), values[v])
                assert len(block.aggregate.scale) == len(part.steps)  # the original is untouched
    assert split > 0


def test_parked_tensors_stay_under_the_limit_and_forgotten_requests_are_reported():
    dag = toy_dag()
    partition = [0] * dag.graph.number_of_nodes()
    partition[dag.output] = 1  # unit 1 runs the output vertex alone: it waits for two inputs
    plan = Plan.build(dag, partition)
    first, second = dag.preds[dag.output]
    blocks = {v: toy_block(v) for v in plan.unit_plans[1].vertices}
    errors, results = [], {}
    x = torch.ones(256)  # 1 KiB
    runner = UnitRunner(plan.unit_plans[1], blocks, dag.output, send=None, result=results.__setitem__,
                        error=lambda r, v, m: errors.append((r, m)))
    each = x.nbytes + runner.request_bytes  # a request's tensor and its bookkeeping, under one budget
    runner.max_parked_bytes = 3 * each
    for rid in range(1, 8):  # half of each request arrives: nothing can run
        runner.accept(rid, first, x)
        assert runner.parked <= 3 * each
    assert sorted(runner.requests) == [5, 6, 7] and runner.parked == 3 * each
    assert [r for r, _ in errors] == [1, 2, 3, 4]
    assert all(f"exceed the worker's limit of {3 * each} bytes (--max-parked-bytes)" in m for _, m in errors)
    runner.accept(7, second, x)  # no room for it: the oldest (5) goes, then 7 completes
    assert list(results) == [7] and errors[-1][0] == 5 and runner.parked == each
    runner.accept(6, second, x)
    assert list(results) == [7, 6] and runner.parked == 0 and not runner.requests
    runner.accept(8, first, torch.ones(3 * each // 4))  # alone over the limit: refused, reported
    assert errors[-1][0] == 8 and runner.parked == 0 and not runner.requests
    runner.accept(9, first, x)
    runner.accept(10, first, torch.ones(3 * each // 4))  # never fits: the requests in flight stay
    assert errors[-1][0] == 10 and list(runner.requests) == [9] and runner.parked == each
    assert not runner.room(9, first, 0) and not runner.room(9, dag.output, 0)  # seen; not consumed here
