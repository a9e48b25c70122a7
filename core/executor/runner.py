"""One unit's share of any number of inferences in flight (no sockets here).

Each request keeps its own state, keyed by request id: the tensors it holds, how many
inputs each local vertex still waits for, and a ready heap ordered by topological
position. A vertex runs as soon as its last input is there, whichever request it
belongs to; its output is sent at once to every other unit that consumes it (once per
unit) before local work goes on, so peers start early. A tensor is freed as soon as its
last local consumer has used it, so memory per request is bounded by the unit's frontier.

**Staged blocks.** A block may come split (:class:`StagedBlock`): per-input steps (the
aggregation's scaling of one input: max-pool, 1×1 conv) and the rest. Each per-input
step is its own task, ready as soon as *that* input is there, ordered by its consumer's
position: so the output vertex's scaling of 19 inputs (about 85 % of its time on a
40-vertex DP network) runs while the unit would otherwise wait for the other unit's
last activations, instead of all at the end. The same operations on the same tensors,
so results are bit-identical to running the whole block at once.

**Fused segments.** ``blocks`` may also map a :class:`~parawire.executor.segments.Segment`
(a run of the unit's vertices) to one callable that takes the segment's inputs and
returns its outputs: an engine whose per-call cost is high (ONNX Runtime) then pays it
once per segment. The segment is one task; its outputs are sent and stored as a
vertex's are. :mod:`~parawire.executor.segments` says which runs can be fused without
delaying any message.

**Bounded memory.** The bytes held for requests in flight ("parked") are counted under
one budget: the tensors kept for each request and each request's own bookkeeping
(:meth:`UnitRunner.request_bytes`, charged when the request opens, so a peer opening many
requests with one small tensor each fills the budget as surely as one with large ones).
A received tensor that would take the total past ``max_parked_bytes`` makes the runner
forget the oldest requests first (each reported through ``error``, so its caller fails
with a reason instead of waiting for a timeout), as does the 1025th request in flight.
Warnings go through ``note`` (rate-limited by the worker: one line per class a second).
"""

from __future__ import annotations

import heapq
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from parawire.executor.drops import RateLimitedLog, describe
from parawire.executor.plan import UnitPlan
from parawire.executor.segments import Segment

log = logging.getLogger("parawire.worker")

Block = Callable[[list[torch.Tensor]], torch.Tensor]
Block1 = Callable[[torch.Tensor], torch.Tensor]

WHOLE = -1
"""The ``input`` field of a task that runs a vertex's block (not one per-input step)."""

DEFAULT_MAX_PARKED_BYTES = 1 << 30
"""Bytes of tensors and bookkeeping a unit holds for its requests in flight, all together (1 GiB)."""

REQUEST_BYTES = 2048
"""Charged per request in flight for its fixed state (the object, its dicts, the heap)."""

ENTRY_BYTES = 128
"""Charged per request for each of its per-task and per-input entries (dict slots, ints)."""


@dataclass(frozen=True)
class StagedBlock:
    """A block split in two: ``steps[j](x)`` prepares input ``j`` alone (inputs without a
    step pass through) and ``rest(prepared_inputs)`` computes the output.

    ``groups`` (optional) prepares several inputs in one call: ``groups[(j, k, …)]``
    takes those inputs, in that order, and returns them prepared. It runs once all of
    them are there, so a worker groups only inputs that are there at the same moment
    (outputs of one local task): one engine call instead of several, no step later."""

    steps: Mapping[int, Block1]
    rest: Block
    groups: Mapping[tuple[int, ...], Callable[[list[torch.Tensor]], list[torch.Tensor]]] = field(
        default_factory=dict)


Step = tuple[tuple[int, ...], Callable[[list[torch.Tensor]], list[torch.Tensor]]]
"""Input positions of a task prepared by one call, and the call."""


def _steps(block: StagedBlock) -> list[Step]:
    """Every per-input step and group of ``block`` as (positions, call on a list)."""
    single = [((j,), (lambda step: lambda xs: [step(xs[0])])(step)) for j, step in block.steps.items()]
    return sorted([*single, *block.groups.items()], key=lambda s: s[0])


class _Request:
    __slots__ = ("bytes", "left", "missing", "pending", "prepared", "ready", "seen", "uses", "values")

    def __init__(self, runner: UnitRunner) -> None:
        self.values: dict[int, torch.Tensor] = {}
        self.prepared: dict[tuple[int, int], torch.Tensor] = {}
        self.missing = dict(runner.missing)
        self.pending: dict[tuple[int, int], int] = {}  # (task, step) → inputs it still waits for
        self.uses = dict(runner.uses)
        self.ready: list[tuple[int, int]] = []  # (task index, step index or WHOLE)
        self.left = len(runner.tasks)
        self.seen: set[int] = set()
        self.bytes = 0  # of the tensors in ``values``


class UnitRunner:
    """Runs the vertices of one :class:`UnitPlan` for requests as their inputs arrive.

    ``send(unit, request, vertex, tensor)`` forwards an output to another unit,
    ``result(request, tensor)`` hands the output vertex's logits to the coordinator and
    ``error(request, vertex, message)`` reports a failed vertex.
    """

    def __init__(
        self,
        plan: UnitPlan,
        blocks: Mapping[int | Segment, Block | StagedBlock],
        output_vertex: int,
        *,
        send: Callable[[int, int, int, torch.Tensor], None],
        result: Callable[[int, torch.Tensor], None],
        error: Callable[[int, int, str], None],
        max_in_flight: int = 1024,
        max_parked_bytes: int = DEFAULT_MAX_PARKED_BYTES,
        note: Callable[[str, str], None] | None = None,
    ) -> None:
        self.vertices = list(plan.vertices)
        self.sends = {v: list(plan.sends.get(v, ())) for v in self.vertices}
        fused = {seg.vertices[0]: (seg, call) for seg, call in blocks.items() if isinstance(seg, Segment)}
        # One task per vertex, or per fused segment: (inputs, outputs, call, steps), and per
        # task the step that prepares each staged input position.
        self.tasks: list[tuple[list[int], tuple[int, ...], Callable, list[Step]]] = []
        self.step_of: list[dict[int, int]] = []
        self.task_vertices: list[tuple[int, ...]] = []  # every vertex each task computes
        inside: set[int] = set()
        for v in self.vertices:
            if v in inside:
                continue
            if v in fused:
                seg, call = fused[v]
                inside.update(seg.vertices)
                self.tasks.append((list(seg.inputs), seg.outputs, call, []))
                self.task_vertices.append(seg.vertices)
                self.step_of.append({})
                continue
            block = blocks[v] if isinstance(blocks[v], StagedBlock) else StagedBlock({}, blocks[v])
            steps = _steps(block)
            self.tasks.append((list(plan.preds[v]), (v,), _single(block.rest), steps))
            self.task_vertices.append((v,))
            self.step_of.append({j: g for g, (positions, _) in enumerate(steps) for j in positions})
        self.output_vertex = output_vertex
        self.consumers: dict[int, list[tuple[int, int]]] = {}  # vertex → (task index, input position)
        for i, (preds, _, _, _) in enumerate(self.tasks):
            for j, p in enumerate(preds):
                self.consumers.setdefault(p, []).append((i, j))
        self.missing = {i: len(task[0]) for i, task in enumerate(self.tasks)}
        self.uses = {u: len(c) for u, c in self.consumers.items()}
        self.send, self.result, self.error = send, result, error
        self.max_in_flight = max_in_flight
        self.max_parked_bytes = max_parked_bytes
        self.requests: OrderedDict[int, _Request] = OrderedDict()
        self.completed = 0
        self.parked = 0  # bytes held for requests in flight: their tensors and bookkeeping
        self.request_bytes = REQUEST_BYTES + ENTRY_BYTES * (2 * len(self.tasks) + len(self.uses))
        self.note = note or RateLimitedLog(log, "unit runner")
        # Per task: [wall s, thread CPU s, calls] since deployment, as the worker sees its
        # compute (reported in STATS; the testbed compares it with the latency model).
        self.task_time = [[0.0, 0.0, 0] for _ in self.tasks]

    def accept(self, request: int, vertex: int, tensor: torch.Tensor) -> None:
        """A tensor for ``vertex`` of ``request`` arrived: store it if there is :meth:`room`
        for it, and run what is ready."""
        if self.room(request, vertex, tensor.nbytes):
            self.admit(request, vertex, tensor)

    def admit(self, request: int, vertex: int, tensor: torch.Tensor) -> None:
        """:meth:`accept` once :meth:`room` has said yes for this tensor's size (the worker
        asks it before decoding, so it is asked once)."""
        req = self.requests.get(request)
        if req is None:
            req = self._open(request)
        self._store(req, vertex, tensor)
        self._drain(request, req)

    def room(self, request: int, vertex: int, nbytes: int) -> bool:
        """Whether a tensor of ``nbytes`` for ``vertex`` of ``request`` is wanted, making room
        for it (the oldest requests forgotten) when it fits the budget at all. The worker
        asks before decoding an encoded activation, whose frame may be far smaller than
        what it decodes to: nothing is allocated for a tensor that would not be kept."""
        if vertex not in self.consumers:
            self.note("dropped a tensor", f"request {request}: no local vertex consumes vertex {vertex}")
            return False
        req = self.requests.get(request)
        if req is not None and vertex in req.seen:
            self.note("dropped a tensor", f"request {request}: vertex {vertex} arrived twice; second copy dropped")
            return False
        need = nbytes + (self.request_bytes if req is None else 0)
        why = (f"forgotten: tensors held for requests in flight exceed the worker's limit of"
               f" {self.max_parked_bytes} bytes (--max-parked-bytes)")
        if need > self.max_parked_bytes:  # never fits: only its own request is forgotten
            self._forget(request, vertex, why)
            return False
        while self.parked + need > self.max_parked_bytes:
            oldest = next(iter(self.requests))
            self._forget(oldest, vertex, why)
            if oldest == request:
                return False
        return True

    def cancel(self, request: int) -> None:
        self._close(request)

    def _close(self, request: int) -> None:
        req = self.requests.pop(request, None)
        if req is not None:
            self.parked -= req.bytes + self.request_bytes

    def _forget(self, request: int, vertex: int, why: str) -> None:
        self.note("forgot a request", f"request {request} {why}")
        self._close(request)
        self.error(request, vertex, f"request {request} {why}")

    def _open(self, request: int) -> _Request:
        if len(self.requests) >= self.max_in_flight:
            self._forget(next(iter(self.requests)), -1, f"forgotten: more than {self.max_in_flight} requests in flight")
        req = self.requests[request] = _Request(self)
        self.parked += self.request_bytes
        return req

    def _store(self, req: _Request, vertex: int, tensor: torch.Tensor) -> None:
        req.seen.add(vertex)
        consumers = self.consumers.get(vertex)
        if not consumers:
            return
        req.values[vertex] = tensor
        req.bytes += tensor.nbytes
        self.parked += tensor.nbytes
        for i, j in consumers:
            g = self.step_of[i].get(j)
            if g is None:
                self._arrived(req, i)
                continue
            left = req.pending.get((i, g), len(self.tasks[i][3][g][0])) - 1
            req.pending[i, g] = left
            if left == 0:
                heapq.heappush(req.ready, (i, g))

    @staticmethod
    def _arrived(req: _Request, i: int) -> None:
        """One more input of local vertex ``i`` is there (raw or prepared)."""
        req.missing[i] -= 1
        if req.missing[i] == 0:
            heapq.heappush(req.ready, (i, WHOLE))

    def _used(self, req: _Request, p: int) -> None:
        req.uses[p] -= 1
        if req.uses[p] == 0:
            n = req.values.pop(p).nbytes
            req.bytes -= n
            self.parked -= n

    def _timed(self, i: int, wall: float, cpu: float) -> None:
        """Add one call of task ``i`` (started at ``wall``/``cpu``) to its compute time."""
        spent = self.task_time[i]
        spent[0] += time.perf_counter() - wall
        spent[1] += time.thread_time() - cpu
        spent[2] += 1

    def _drain(self, request: int, req: _Request) -> None:
        while req.ready:
            i, j = heapq.heappop(req.ready)
            preds, outputs, call, steps = self.tasks[i]
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                if j != WHOLE:  # a step on inputs that are all there; the task runs when all are
                    positions, prepare = steps[j]
                    del req.pending[i, j]
                    for k, x in zip(positions, prepare([req.values[preds[k]] for k in positions])):
                        req.prepared[i, k] = x
                        self._used(req, preds[k])
                        self._arrived(req, i)
                    self._timed(i, wall, cpu)
                    continue
                staged = self.step_of[i]
                inputs = [req.prepared.pop((i, k)) if k in staged else req.values[p] for k, p in enumerate(preds)]
                outs = call(inputs)
                self._timed(i, wall, cpu)
            except Exception as exc:  # a broken block must not take the worker down
                v = outputs[-1]
                self.note("had a vertex fail", f"request {request}: vertex {v} failed: {describe(exc)}")
                log.debug("traceback of the failed vertex", exc_info=True)
                self._close(request)
                self.error(request, v, f"{type(exc).__name__}: {exc}")
                return
            for k, p in enumerate(preds):
                if k not in staged:
                    self._used(req, p)
            for v, out in zip(outputs, outs):
                for unit in self.sends[v]:
                    self.send(unit, request, v, out)
                if v == self.output_vertex:
                    self.result(request, out)
                self._store(req, v, out)
            req.left -= 1
        if req.left == 0:
            self._close(request)
            self.completed += 1


def _single(block: Block) -> Callable[[list[torch.Tensor]], tuple[torch.Tensor]]:
    """A one-vertex block as a task: its output as a 1-tuple."""
    return lambda inputs: (block(inputs),)
