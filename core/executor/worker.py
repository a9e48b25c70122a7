"""A worker: serves one unit of a deployment over any transport.

The loop receives a message, checks it (:func:`~parawire.executor.protocol.decode`) and
dispatches on its kind. A message that fails the check is dropped with one log line and
the loop goes on: a garbled, truncated, wrong-version or oversized frame never stops a
worker. Everything a deployment needs arrives as JSON (the spec, the plan, the unit and
its peers' addresses); the worker rebuilds its sub-network from the spec's seed (weights
of vertex v depend only on the seed and v, so they equal the full network's), or loads
the weights sent with the deployment as safetensors.

``torch.set_num_threads(1)`` by default: one worker per core is the point of the design;
intra-op threads of several workers on the same cores only fight each other.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from parawire.errors import ParawireError
from parawire.executor.plan import Plan, UnitPlan
from parawire.executor.protocol import (
    DEFAULT_MAX_MESSAGE_BYTES,
    Kind,
    Message,
    ProtocolError,
    decode,
    json_frames,
    tensor_frames,
)
from parawire.executor.runner import Block, StagedBlock, UnitRunner
from parawire.executor.security import Curve
from parawire.executor.transport import Link, Transport

log = logging.getLogger("parawire.worker")

Builder = Callable[..., Mapping[int, Block]]
"""``builder(spec, unit_plan, weights_or_None[, engine=NAME]) -> {vertex: block}``; ``engine``
is passed only when the deployment names one."""

TICK_S = 0.25
"""How often an idle worker checks whether it should stop."""


def network_blocks(spec: dict, unit: UnitPlan, weights: Any = None, engine: str | None = None) -> dict[int, Block]:
    """The unit's blocks from parawire's network builder, in eval mode, compiled by the
    inference ``engine`` plugin (default :data:`parawire.engines.DEFAULT_ENGINE`) for the
    thread count this worker runs with."""
    from parawire.architecture import build_architecture
    from parawire.engines import DEFAULT_ENGINE
    from parawire.executor.plan import SOURCE
    from parawire.executor.segments import segments
    from parawire.manager import get_plugins
    from parawire.nn import build_network
    from parawire.spec import ArchitectureSpec

    arch = build_architecture(ArchitectureSpec.parse(spec, source="deployment spec"))
    for v in unit.vertices:
        if (list(arch.dag.preds.get(v, ())) or [SOURCE]) != unit.preds[v]:
            raise ParawireError(f"plan does not match the spec's DAG at vertex {v}; rebuild the plan")
    net = build_network(arch, unit.vertices)
    if weights is not None:
        from safetensors.torch import load

        net.load_state_dict(load(bytes(weights)))
    net.eval()
    record = get_plugins().engines.get(engine or DEFAULT_ENGINE)
    threads = torch.get_num_threads()
    fused = []
    if record.fuse is not None:
        runs = segments(unit, arch.dag.output, staged=set(arch.layout.scaling))
        fused = [s for s in runs if len(s.vertices) > 1]
    inside = {v for s in fused for v in s.vertices}
    blocks: dict = dict(record.compile(net=net, vertices=[v for v in unit.vertices if v not in inside], threads=threads))
    blocks.update({s: record.fuse(net=net, segment=s, threads=threads) for s in fused})
    return blocks


def staged(block: torch.nn.Module) -> Block | StagedBlock:
    """Split a parawire block whose aggregation scales inputs into per-input steps (the
    scaling blocks) and the rest (the same block seeing already-scaled inputs), so the
    runner can scale each input as soon as it arrives (see :mod:`~parawire.executor.runner`).

    The rest is the same block called with ``prescaled=True`` (parawire.nn's public
    contract), so outputs are bit-identical. Blocks without scaling steps run whole.
    """
    aggregate = getattr(block, "aggregate", None)
    steps = aggregate.scaling_steps() if aggregate is not None else {}
    if not steps:
        return block
    return StagedBlock(steps, functools.partial(block, prescaled=True))


class Worker:
    """Serves one unit at ``address`` until told to stop (``SHUTDOWN`` or :meth:`stop`)."""

    def __init__(
        self,
        transport: Transport,
        address: str,
        *,
        curve: Curve | None = None,
        builder: Builder = network_blocks,
        threads: int | None = 1,
        max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        exit_with_parent: bool = False,
    ) -> None:
        self.transport = transport
        self.curve = curve
        self.builder = builder
        self.threads = threads
        self.max_bytes = max_bytes
        self.inbox = transport.bind(address, curve, max_bytes)
        self.address = self.inbox.address
        self.parent = os.getppid() if exit_with_parent else None
        self._stop = threading.Event()
        self.dropped = 0  # malformed or unexpected messages, over the worker's lifetime
        self._reset()

    def _reset(self) -> None:
        self.unit: int | None = None
        self.runner: UnitRunner | None = None
        self.coordinator: Any = None
        self.links: dict[int, Link] = {}
        self.counters = {"sent_bytes": 0, "sent_messages": 0}

    # -- the loop ----------------------------------------------------------------------
    def serve(self) -> None:
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                while not self._stop.is_set():
                    item = self.inbox.recv(TICK_S)
                    if item is None:
                        if self.parent is not None and os.getppid() != self.parent:
                            log.warning("parent process is gone; worker stops")
                            break
                        continue
                    self.handle(*item)
        finally:
            self._close_links()
            self.inbox.close()
            getattr(self.transport, "close", lambda: None)()

    def start(self) -> threading.Thread:
        """Serve on a daemon thread (in-process clusters and tests)."""
        thread = threading.Thread(target=self.serve, name=f"parawire-worker {self.address}", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def handle(self, token: Any, frames: list) -> None:
        try:
            msg = decode(frames, self.max_bytes)
        except ProtocolError as exc:
            self.dropped += 1
            log.warning("worker %s dropped a malformed message: %s", self.address, exc)
            return
        handler = self._handlers.get(msg.kind)
        if handler is None:
            self.dropped += 1
            log.warning("worker %s dropped an unexpected %s message", self.address, msg.kind.name)
            return
        handler(self, token, msg)

    # -- handlers ----------------------------------------------------------------------
    def _deploy(self, token: Any, msg: Message) -> None:
        self._close_links()
        self._reset()
        try:
            started = time.perf_counter()
            body = msg.body
            plan = Plan.model_validate(body["plan"])
            unit = int(body["unit"])
            unit_plan = plan.unit_plans[unit]
            engine = {"engine": body["engine"]} if body.get("engine") else {}
            blocks = self.builder(body["spec"], unit_plan, msg.weights, **engine)
            peers = {int(u): p for u, p in body.get("peers", {}).items()}
            for u in sorted({u for targets in unit_plan.sends.values() for u in targets}):
                key = peers[u].get("server_key")
                self.links[u] = self.transport.link(
                    peers[u]["address"], self.curve, key.encode() if key else None
                )
            self.unit = unit
            self.runner = UnitRunner(
                unit_plan,
                blocks,
                plan.output_vertex,
                send=self._send_peer,
                result=self._send_result,
                error=self._send_error,
            )
            self.coordinator = token
        except Exception as exc:  # bad deployment: report it, keep serving
            log.exception("deployment failed")
            self._close_links()
            self._reset()
            self.inbox.reply(token, json_frames(Kind.ERROR, {"message": f"deployment failed: {exc}"}))
            return
        build_s = time.perf_counter() - started
        self.inbox.reply(
            token, json_frames(Kind.READY, {"unit": unit, "vertices": len(unit_plan.vertices), "build_s": build_s}, unit=unit)
        )

    def _tensor(self, token: Any, msg: Message) -> None:
        if self.runner is None:
            self.dropped += 1
            log.warning("worker %s is not deployed; %s for request %d dropped", self.address, msg.kind.name, msg.request)
            return
        self.runner.accept(msg.request, msg.vertex, msg.tensor)

    def _ping(self, token: Any, msg: Message) -> None:
        self.inbox.reply(token, json_frames(Kind.PONG, {"unit": self.unit, "deployed": self.runner is not None}, request=msg.request))

    def _stats(self, token: Any, msg: Message) -> None:
        import psutil

        body = dict(self.counters, unit=self.unit, dropped=self.dropped, rss=psutil.Process().memory_info().rss)
        if self.runner is not None:
            body.update(completed=self.runner.completed, in_flight=len(self.runner.requests))
        self.inbox.reply(token, json_frames(Kind.STATS, body, request=msg.request))

    def _cancel(self, token: Any, msg: Message) -> None:
        if self.runner is not None:
            self.runner.cancel(msg.request)

    def _shutdown(self, token: Any, msg: Message) -> None:
        self.inbox.reply(token, json_frames(Kind.PONG, {"unit": self.unit, "stopping": True}, request=msg.request))
        self._stop.set()

    _handlers = {
        Kind.DEPLOY: _deploy,
        Kind.INPUT: _tensor,
        Kind.TENSOR: _tensor,
        Kind.PING: _ping,
        Kind.STATS: _stats,
        Kind.CANCEL: _cancel,
        Kind.SHUTDOWN: _shutdown,
    }

    # -- runner callbacks --------------------------------------------------------------
    def _send_peer(self, unit: int, request: int, vertex: int, tensor: torch.Tensor) -> None:
        frames = tensor_frames(Kind.TENSOR, tensor, request=request, vertex=vertex, unit=self.unit)
        if self.links[unit].send(frames):
            self.counters["sent_bytes"] += frames[1].nbytes
            self.counters["sent_messages"] += 1

    def _send_result(self, request: int, tensor: torch.Tensor) -> None:
        self.inbox.reply(
            self.coordinator, tensor_frames(Kind.RESULT, tensor, request=request, vertex=self.runner.output_vertex, unit=self.unit)
        )

    def _send_error(self, request: int, vertex: int, message: str) -> None:
        body = {"unit": self.unit, "vertex": vertex, "message": message}
        self.inbox.reply(self.coordinator, json_frames(Kind.ERROR, body, request=request, vertex=vertex, unit=self.unit))

    def _close_links(self) -> None:
        for link in self.links.values():
            link.close()
        self.links = {}
