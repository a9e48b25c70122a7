"""One unit's share of any number of inferences in flight (no sockets here).

Each request keeps its own state, keyed by request id: the tensors it holds, how many
inputs each local vertex still waits for, and a ready heap ordered by topological
position. A vertex runs as soon as its last input is there, whichever request it
belongs to; its output is sent at once to every other unit that consumes it (once per
unit) before local work goes on, so peers start early. A tensor is freed as soon as its
last local consumer has run, so memory per request is bounded by the unit's frontier.
"""

from __future__ import annotations

import heapq
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping

import torch
from parawire.executor.plan import UnitPlan

log = logging.getLogger("parawire.worker")

Block = Callable[[list[torch.Tensor]], torch.Tensor]


class _Request:
    __slots__ = ("left", "missing", "ready", "seen", "uses", "values")

    def __init__(self, runner: UnitRunner) -> None:
        self.values: dict[int, torch.Tensor] = {}
        self.missing = dict(runner.missing)
        self.uses = dict(runner.uses)
        self.ready: list[int] = []
        self.left = len(runner.vertices)
        self.seen: set[int] = set()


class UnitRunner:
    """Runs the vertices of one :class:`UnitPlan` for requests as their inputs arrive.

    ``send(unit, request, vertex, tensor)`` forwards an output to another unit,
    ``result(request, tensor)`` hands the output vertex's logits to the coordinator and
    ``error(request, vertex, message)`` reports a failed vertex.
    """

    def __init__(
        self,
        plan: UnitPlan,
        blocks: Mapping[int, Block],
        output_vertex: int,
        *,
        send: Callable[[int, int, int, torch.Tensor], None],
        result: Callable[[int, torch.Tensor], None],
        error: Callable[[int, int, str], None],
        max_in_flight: int = 1024,
    ) -> None:
        self.vertices = list(plan.vertices)
        self.preds = {v: list(plan.preds[v]) for v in self.vertices}
        self.sends = {v: list(plan.sends.get(v, ())) for v in self.vertices}
        self.blocks = [blocks[v] for v in self.vertices]
        self.output_vertex = output_vertex
        self.consumers: dict[int, list[int]] = {}
        for i, v in enumerate(self.vertices):
            for p in self.preds[v]:
                self.consumers.setdefault(p, []).append(i)
        self.missing = {i: len(self.preds[v]) for i, v in enumerate(self.vertices)}
        self.uses = {u: len(c) for u, c in self.consumers.items()}
        self.send, self.result, self.error = send, result, error
        self.max_in_flight = max_in_flight
        self.requests: OrderedDict[int, _Request] = OrderedDict()
        self.completed = 0

    def accept(self, request: int, vertex: int, tensor: torch.Tensor) -> None:
        """A tensor for ``vertex`` of ``request`` arrived: store it and run what is ready."""
        if vertex not in self.consumers:
            log.warning("request %d: no local vertex consumes vertex %d; dropped", request, vertex)
            return
        req = self.requests.get(request)
        if req is None:
            req = self._open(request)
        if vertex in req.seen:
            log.warning("request %d: vertex %d arrived twice; second copy dropped", request, vertex)
            return
        self._store(req, vertex, tensor)
        self._drain(request, req)

    def cancel(self, request: int) -> None:
        self.requests.pop(request, None)

    def _open(self, request: int) -> _Request:
        if len(self.requests) >= self.max_in_flight:
            old, _ = self.requests.popitem(last=False)
            log.warning("more than %d requests in flight; forgot request %d", self.max_in_flight, old)
        req = self.requests[request] = _Request(self)
        return req

    def _store(self, req: _Request, vertex: int, tensor: torch.Tensor) -> None:
        req.seen.add(vertex)
        consumers = self.consumers.get(vertex)
        if not consumers:
            return
        req.values[vertex] = tensor
        for i in consumers:
            req.missing[i] -= 1
            if req.missing[i] == 0:
                heapq.heappush(req.ready, i)

    def _drain(self, request: int, req: _Request) -> None:
        while req.ready:
            i = heapq.heappop(req.ready)
            v = self.vertices[i]
            preds = self.preds[v]
            try:
                out = self.blocks[i]([req.values[p] for p in preds])
            except Exception as exc:  # a broken block must not take the worker down
                log.exception("request %d: vertex %d failed", request, v)
                self.requests.pop(request, None)
                self.error(request, v, f"{type(exc).__name__}: {exc}")
                return
            for p in preds:
                req.uses[p] -= 1
                if req.uses[p] == 0:
                    del req.values[p]
            for unit in self.sends[v]:
                self.send(unit, request, v, out)
            if v == self.output_vertex:
                self.result(request, out)
            self._store(req, v, out)
            req.left -= 1
        if req.left == 0:
            self.requests.pop(request, None)
            self.completed += 1
