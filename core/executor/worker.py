"""A worker: serves one unit of a deployment over any transport.

The loop receives a message, checks it (:func:`~parawire.executor.protocol.decode`) and
dispatches on its kind. Every exception that untrusted bytes cause, in decoding *and* in
dispatch, becomes a counted, rate-limited one-line drop (:mod:`~parawire.executor.drops`):
a garbled, truncated, wrong-version, oversized or out-of-place message never stops a
worker and never prints a traceback.

Isolation. Each deployment carries a session token (16 random bytes drawn by the
coordinator); the worker accepts an ``INPUT`` only from the connection that deployed it,
a ``TENSOR`` for vertex v only from the unit the plan says produces v, and both only
with the session's token; control messages (stats, cancel, shutdown) only from the
coordinator of the current deployment, with its session: an idle worker takes ``DEPLOY``
and ``PING`` and nothing else, so no stranger can stop it (a local signal can). Who may
deploy: anyone who reaches the socket, unless the worker has an owner secret
(``--owner-secret``, :mod:`~parawire.executor.security`), when a ``DEPLOY`` must carry
the HMAC of its session token under that secret. A ``DEPLOY`` from another coordinator takes over once
it has been checked completely (:mod:`~parawire.executor.deployment`, the resource
estimate and the build); the previous coordinator gets an ``ERROR`` naming the takeover
at once and again on each later request, so it fails with a clear error, never with
another caller's answer. Everything a deployment needs arrives as JSON (the spec, the plan, the unit and
its peers' addresses); the worker rebuilds its sub-network from the spec's seed (weights
of vertex v depend only on the seed and v, so they equal the full network's), or loads
the weights sent with the deployment as safetensors.

``torch.set_num_threads(1)`` by default: one worker per core is the point of the design;
intra-op threads of several workers on the same cores only fight each other.
"""

from __future__ import annotations

import functools
import gc
import hmac
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import torch
from parawire.errors import ParawireError
from parawire.executor.codec_frames import Encoder, received, unit_codecs
from parawire.executor.deployment import Deployment, DeploymentError, check_deployment
from parawire.executor.drops import Drops, describe
from parawire.executor.estimate import early_bytes, unit_bytes
from parawire.executor.plan import SOURCE, UnitPlan
from parawire.executor.protocol import (
    COORDINATOR,
    DEFAULT_MAX_MESSAGE_BYTES,
    NO_SESSION,
    Kind,
    Message,
    ProtocolError,
    decode,
    json_frames,
    tensor_frames,
)
from parawire.executor.runner import DEFAULT_MAX_PARKED_BYTES, Block, StagedBlock, UnitRunner
from parawire.executor.security import Curve, owner_proof
from parawire.executor.tiles import graph_part, tile_blocks, tiled_vertices_of
from parawire.executor.transport import Link, Transport

log = logging.getLogger("parawire.worker")

Builder = Callable[..., Mapping[int, Block]]
"""``builder(spec, unit_plan, weights_or_None[, engine=NAME, engine_params=DICT]) -> {vertex: block}``
(``engine`` is passed only when the deployment names one, ``engine_params`` only when there
are some: the deployment's, else those the worker was started with, ``parawire worker
--engine-param``; the builder validates them with the engine's model). A builder may have an
``estimate(spec, unit_plan, weights_or_None) -> bytes`` attribute (parameter plus activation
memory); the worker then refuses a deployment over its limit before building anything. A
``plan_estimate(spec, plan, unit_plan, limit) -> bytes`` attribute is asked even earlier,
before anything costly (such as generating the spec's graph) happens
(:func:`~parawire.executor.estimate.early_bytes`)."""

TICK_S = 0.25
"""How often an idle worker checks whether it should stop."""

WARMUP_MESSAGES = 16
"""Messages after a deployment whose handling may grow memory (first inferences: the
engine's arenas); the transport's memory guard is told so (``Inbox.allocating``)."""

DEFAULT_MAX_DEPLOY_BYTES = 4 << 30
"""Largest estimated memory (parameters + one request's activations) a deployment may need (4 GiB)."""

SUPERSEDED_KEPT = 16
"""Previous coordinators remembered, to tell each why its requests are refused."""

REFUSED = "refused a deployment"
"""Log class of refused deployments (rate-limited like drops, not counted as drops)."""

ERROR_CHARS = 1000
"""Longest error text a worker sends (an ``ERROR`` payload stays far below its kind's limit)."""


@functools.lru_cache(maxsize=2)
def _architecture(spec_json: str):
    """The architecture of a spec (estimate and build of one deployment share it)."""
    import json

    from parawire.graph.spec import ArchitectureSpec
    from parawire.pipeline.build import build_architecture

    return build_architecture(ArchitectureSpec.parse(json.loads(spec_json), source="deployment spec"))


def _arch_of(spec: dict, unit: UnitPlan):
    """The spec's architecture, after checking that the unit's plan matches its DAG."""
    import json

    arch = _architecture(json.dumps(spec, sort_keys=True))
    for v in unit.vertices:
        if (list(arch.dag.preds.get(v, ())) or [SOURCE]) != unit.preds[v]:
            raise ParawireError(f"plan does not match the spec's DAG at vertex {v}; rebuild the plan")
    return arch


def network_bytes(spec: dict, unit: UnitPlan, weights: Any = None) -> int:
    """Estimated memory of the unit (:func:`~parawire.executor.estimate.unit_bytes`) from
    the spec's generated architecture, once the plan is known to match it."""
    return unit_bytes(_arch_of(spec, graph_part(unit)), unit)


def network_blocks(spec: dict, unit: UnitPlan, weights: Any = None, engine: str | None = None,
                   engine_params: dict | None = None) -> dict[int, Block]:
    """The unit's blocks from parawire's network builder, in eval mode, compiled by the
    inference ``engine`` plugin (default :data:`parawire.registry.records.DEFAULT_ENGINE`,
    parawire's own) with ``engine_params`` for the thread count this worker runs with;
    runs of vertices that delay no message are fused into one call when the engine can
    (:mod:`parawire.executor.segments`), and so are the scaling steps of inputs that one
    run produces. Every call goes through the plugin's invocation: its parameters are
    validated, its errors and outputs (a block for every vertex) name it."""
    from parawire.executor.segments import segments
    from parawire.latency.calls import step_groups
    from parawire.network.nn import build_network
    from parawire.registry.manager import get_plugins, resolve_engine
    from parawire.registry.records import CompileContext, FuseContext, ModuleContext, PrepareContext

    record = get_plugins().engines.get(resolve_engine(engine))
    params = record.resolve(engine_params)
    full, unit = unit, graph_part(unit)  # a hybrid plan's tiles and gathers are added at the end
    arch = _arch_of(spec, unit)
    net = build_network(arch, [*unit.vertices, *tiled_vertices_of(full)])
    if weights is not None:
        from safetensors.torch import load

        try:
            net.load_state_dict(load(bytes(weights)))
        except Exception as exc:  # safetensors or torch: say which part of the deployment is wrong
            raise ParawireError(f"weights: not this unit's safetensors state dict ({describe(exc)})") from None
    net.eval()
    threads = torch.get_num_threads()
    runs = segments(unit, arch.dag.output, staged=set(arch.layout.scaling)) if record.fuse or record.prepare else []
    fused = [s for s in runs if len(s.vertices) > 1] if record.fuse is not None else []
    inside = {v for s in fused for v in s.vertices}
    vertices = [v for v in unit.vertices if v not in inside]
    blocks: dict = dict(record.invoke(CompileContext(net, vertices, threads), params))
    blocks.update({s: record.invoke(FuseContext(net, s, threads), params) for s in fused})
    if record.prepare is not None:
        run_vertices = [s.vertices for s in runs]
        for v, block in list(blocks.items()):
            groups = step_groups(run_vertices, unit.preds[v], block.steps) if isinstance(block, StagedBlock) else []
            if groups:
                grouped = {j for g in groups for j in g}
                blocks[v] = StagedBlock(
                    {j: step for j, step in block.steps.items() if j not in grouped}, block.rest,
                    {g: record.invoke(PrepareContext(net, v, g, threads), params) for g in groups},
                )
    compile_module = None
    if record.module is not None:  # the tile stack on the engine too (ONNX Runtime: exported per tile shape)
        def compile_module(module, inputs):
            return record.invoke(ModuleContext(module, tuple(inputs), threads), params)
    blocks.update(tile_blocks(net, full, compile_module))
    return blocks


network_blocks.estimate = network_bytes
network_blocks.plan_estimate = early_bytes


def staged(block: torch.nn.Module) -> Block | StagedBlock:
    """Split a parawire block whose aggregation scales inputs into per-input steps (the
    scaling blocks) and the rest (the same block seeing already-scaled inputs), so the
    runner can scale each input as soon as it arrives (see :mod:`~parawire.executor.runner`).

    The rest is the same block called with ``prescaled=True`` (parawire.network.nn's public
    contract), so outputs are bit-identical. Blocks without scaling steps run whole.
    """
    aggregate = getattr(block, "aggregate", None)
    steps = aggregate.scaling_steps() if aggregate is not None else {}
    if not steps:
        return block
    return StagedBlock(steps, functools.partial(block, prescaled=True))


class Worker:
    """Serves one unit at ``address`` until told to stop (``SHUTDOWN`` or :meth:`stop`).

    Limits (all configurable, see ``parawire worker --help``): ``max_bytes`` for a whole
    message, ``max_parked_bytes`` for the tensors and bookkeeping held for requests in
    flight, and ``max_deploy_bytes`` for a deployment's estimated memory. With
    ``owner_secret`` only deployments proving it are accepted (see the module docstring).

    ``transport_label`` (the transport plugin's label, e.g. ``transport 'zmq' (parawire)``)
    prefixes the drop line of a message the transport itself refused by raising
    :class:`~parawire.executor.protocol.ProtocolError` from ``recv``: the rule broken is
    the plugin's, so the line says which plugin to ask. ``engine_params`` are the
    parameters of a deployment that carries none (``parawire worker --engine-param``).
    """

    def __init__(
        self,
        transport: Transport,
        address: str,
        *,
        curve: Curve | None = None,
        builder: Builder = network_blocks,
        threads: int | None = 1,
        max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        max_parked_bytes: int = DEFAULT_MAX_PARKED_BYTES,
        max_deploy_bytes: int = DEFAULT_MAX_DEPLOY_BYTES,
        owner_secret: bytes | None = None,
        exit_with_parent: bool = False,
        owns_process: bool = False,
        engine_params: Mapping[str, Any] | None = None,
        transport_label: str | None = None,
    ) -> None:
        self.transport = transport
        self.transport_label = transport_label
        self.engine_params = dict(engine_params or {})
        self.owner_secret = owner_secret
        self.owns_process = owns_process
        self.curve = curve
        self.builder = builder
        self.threads = threads
        self.max_bytes = max_bytes
        self.max_parked_bytes = max_parked_bytes
        self.max_deploy_bytes = max_deploy_bytes
        self.inbox = transport.bind(address, curve, max_bytes)
        self._allocating = getattr(self.inbox, "allocating", lambda: None)  # optional in a transport
        self.warmup = 0
        self.address = self.inbox.address
        self.parent = os.getppid() if exit_with_parent else None
        self._stop = threading.Event()
        self.drops = Drops(log, f"worker {self.address}")
        self.superseded: OrderedDict[Any, tuple[bytes, str]] = OrderedDict()
        self._install(None, None, NO_SESSION, None, {})

    @property
    def dropped(self) -> int:
        """Messages refused over the worker's lifetime (malformed, unexpected or not allowed)."""
        return self.drops.count

    def _install(self, unit: int | None, runner: UnitRunner | None, session: bytes, coordinator: Any,
                 links: dict[int, Link], senders: dict[int, int] | None = None,
                 codecs: dict | None = None) -> None:
        """Switch to a deployment (or to none) in one step.

        A worker that is its own process (``owns_process``) then collects the previous
        deployment's garbage and freezes everything alive out of the garbage collector's
        sight: the network, its engine sessions and the plan are tens of thousands of
        long-lived objects, and a full collection walking them, triggered by the few
        objects each inference allocates, took over a millisecond in the middle of a
        send (measured on DP-40, 2 workers). Inside another process (threads) the
        collector is that process's business, so it is left alone."""
        self.unit, self.runner, self.session, self.coordinator = unit, runner, session, coordinator
        self.warmup = WARMUP_MESSAGES if runner is not None else 0
        self.links, self.senders = links, senders or {}
        self.codecs = codecs or {}
        self.encoder = Encoder(self.codecs)
        self.counters = {"sent_bytes": 0, "sent_messages": 0}
        if self.owns_process:
            gc.unfreeze()
            gc.collect()
            gc.freeze()

    # -- the loop ----------------------------------------------------------------------
    def serve(self) -> None:
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                while not self._stop.is_set():
                    try:
                        item = self.inbox.recv(TICK_S)
                    except ProtocolError as exc:  # the transport discarded a message (oversized, or its own rule)
                        self.drops(f"{self.transport_label}: {exc}" if self.transport_label else str(exc))
                        continue
                    if item is None:
                        self.drops.flush()
                        if self.parent is not None and os.getppid() != self.parent:
                            log.warning("parent process is gone; worker stops")
                            break
                        continue
                    self.handle(*item)
        finally:
            self._close_links(self.links)
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
        """Decode and dispatch one message; whatever goes wrong is one counted drop."""
        try:
            msg = decode(frames, self.max_bytes)
            if msg.kind is Kind.DEPLOY or self.warmup:
                self._allocating()
                self.warmup = max(0, self.warmup - 1)
            handler = self._handlers.get(msg.kind)
            if handler is None:
                raise ProtocolError(f"a worker does not take {msg.kind.name} messages")
            handler(self, token, msg)
        except ProtocolError as exc:
            self.drops(str(exc))
        except Exception as exc:  # untrusted bytes must never stop the loop
            self.drops(describe(exc))

    # -- deployment --------------------------------------------------------------------
    def _deploy(self, token: Any, msg: Message) -> None:
        if msg.session == NO_SESSION:
            raise ProtocolError("DEPLOY without a session token")
        started = time.perf_counter()
        links: dict[int, Link] = {}
        try:
            self._check_owner(msg)
            deployment = check_deployment(msg.body)
            codecs = unit_codecs(deployment.plan, deployment.unit_plan)
            blocks = self.build_blocks(deployment, msg.weights)
            links = self._links(deployment)
            runner = UnitRunner(
                deployment.unit_plan, blocks, deployment.plan.output_vertex,
                send=self._send_peer, result=self._send_result, error=self._send_error,
                max_parked_bytes=self.max_parked_bytes, note=self.drops.note,
            )
        except Exception as exc:  # refused: the current deployment (if any) keeps serving
            self._close_links(links)
            text = (str(exc).splitlines() or [type(exc).__name__])[0][:ERROR_CHARS]
            self.drops.note(REFUSED, text)
            self.inbox.reply(token, json_frames(Kind.ERROR, {"message": f"deployment failed: {text}"},
                                                session=msg.session))
            return
        previous, previous_session = self.coordinator, self.session
        self._close_links(self.links)
        self._install(deployment.unit, runner, msg.session, token, links, deployment.senders, codecs)
        if previous is not None and previous != token:
            self._supersede(previous, previous_session)
        build_s = time.perf_counter() - started
        body = {"unit": deployment.unit, "vertices": len(deployment.unit_plan.vertices), "build_s": build_s}
        self.inbox.reply(token, json_frames(Kind.READY, body, unit=deployment.unit, session=msg.session))

    def _check_owner(self, msg: Message) -> None:
        """With an owner secret, a deployment must carry the HMAC of its session under it."""
        if self.owner_secret is None:
            return
        proof = msg.body.get("owner")
        # compare_digest raises TypeError on a str with non-ASCII characters: such a proof is simply wrong
        if not isinstance(proof, str) or not proof.isascii() or \
                not hmac.compare_digest(proof, owner_proof(self.owner_secret, msg.session)):
            raise DeploymentError("this worker takes deployments only from its owner: connect with"
                                  " owner_secret= the file given to its --owner-secret")

    def build_blocks(self, deployment: Deployment, weights: Any) -> Mapping[int, Block]:
        """The unit's blocks from a checked deployment: the builder's estimates against
        ``max_deploy_bytes`` first (nothing generated or built when refused: its
        ``plan_estimate`` from the message alone, then its ``estimate``), then the build."""
        plan_estimate = getattr(self.builder, "plan_estimate", None)
        if plan_estimate is not None:
            self._charge(deployment, plan_estimate(deployment.spec, deployment.plan, deployment.unit_plan,
                                                   self.max_deploy_bytes))
        estimate = getattr(self.builder, "estimate", None)
        if estimate is not None:
            self._charge(deployment, estimate(deployment.spec, deployment.unit_plan, weights))
        options: dict[str, Any] = {"engine": deployment.engine} if deployment.engine else {}
        engine_params = self.engine_params if deployment.engine_params is None else deployment.engine_params
        if engine_params:
            options["engine_params"] = engine_params
        return self.builder(deployment.spec, deployment.unit_plan, weights, **options)

    def _charge(self, deployment: Deployment, need: int) -> None:
        if need > self.max_deploy_bytes:
            raise DeploymentError(
                f"unit {deployment.unit} needs about {need / 2**20:.0f} MiB (parameters + activations),"
                f" over this worker's limit of {self.max_deploy_bytes / 2**20:.0f} MiB;"
                " use more units, a smaller network, or raise --max-deploy-bytes"
            )

    def _links(self, deployment: Deployment) -> dict[int, Link]:
        links: dict[int, Link] = {}
        try:
            for u in sorted({u for targets in deployment.unit_plan.sends.values() for u in targets}):
                peer = deployment.peers[u]
                key = peer.server_key.encode() if peer.server_key else None
                links[u] = self.transport.link(peer.address, self.curve, key)
        except Exception:
            self._close_links(links)
            raise
        return links

    def _supersede(self, coordinator: Any, session: bytes) -> None:
        """Tell the coordinator that lost this worker why, now and on its later requests."""
        message = "this worker was taken over by another coordinator's deployment; deploy again to use it"
        self.superseded[coordinator] = (session, message)
        while len(self.superseded) > SUPERSEDED_KEPT:
            self.superseded.popitem(last=False)
        self.inbox.reply(coordinator, json_frames(Kind.ERROR, {"message": message}, session=session))

    def _refuse(self, token: Any, msg: Message, why: str) -> None:
        """A message outside the current session: the superseded owner hears why, others are dropped."""
        old = self.superseded.get(token)
        if old is not None and old[0] == msg.session:
            self.inbox.reply(token, json_frames(Kind.ERROR, {"message": old[1]}, request=msg.request,
                                                session=msg.session))
            return
        raise ProtocolError(f"{msg.kind.name} for request {msg.request} refused: {why}")

    # -- handlers ----------------------------------------------------------------------
    def _tensor(self, token: Any, msg: Message) -> None:
        if self.runner is None:
            raise ProtocolError(f"not deployed; {msg.kind.name} for request {msg.request} dropped")
        if msg.session != self.session:
            return self._refuse(token, msg, "not this deployment's session")
        sender = self.senders.get(msg.vertex)
        if sender != msg.unit or (msg.kind is Kind.INPUT) != (sender == COORDINATOR):
            raise ProtocolError(
                f"{msg.kind.name} for vertex {msg.vertex} from unit {msg.unit}; the plan expects"
                f" {'nothing' if sender is None else 'unit ' + str(sender)}"
            )
        if sender == COORDINATOR and token != self.coordinator:
            raise ProtocolError(f"INPUT for request {msg.request} from a connection that did not deploy")
        tensor = received(msg, self.codecs, functools.partial(self.runner.room, msg.request, msg.vertex))
        if tensor is not None:
            self.runner.admit(msg.request, msg.vertex, tensor)

    def _owner_only(self, token: Any, msg: Message) -> bool:
        """Control belongs to the coordinator of the current deployment, with its session;
        an idle worker has none, so it takes no control message at all."""
        if self.runner is None:
            raise ProtocolError(f"not deployed; {msg.kind.name} refused (an idle worker takes DEPLOY and PING)")
        if token == self.coordinator and msg.session == self.session:
            return True
        self._refuse(token, msg, "control of a deployed worker belongs to its coordinator")
        return False

    def _ping(self, token: Any, msg: Message) -> None:
        body = {"unit": self.unit, "deployed": self.runner is not None}
        self.inbox.reply(token, json_frames(Kind.PONG, body, request=msg.request, session=msg.session))

    def _stats(self, token: Any, msg: Message) -> None:
        if not self._owner_only(token, msg):
            return
        import psutil

        body = dict(self.counters, unit=self.unit, dropped=self.dropped, rss=psutil.Process().memory_info().rss)
        if self.runner is not None:
            body.update(completed=self.runner.completed, in_flight=len(self.runner.requests),
                        parked_bytes=self.runner.parked,
                        tasks=[[list(vs), *spent] for vs, spent in zip(self.runner.task_vertices,
                                                                      self.runner.task_time)])
        self.inbox.reply(token, json_frames(Kind.STATS, body, request=msg.request, unit=self._unit_field(),
                                            session=msg.session))

    def _cancel(self, token: Any, msg: Message) -> None:
        if self._owner_only(token, msg):
            self.runner.cancel(msg.request)

    def _shutdown(self, token: Any, msg: Message) -> None:
        if not self._owner_only(token, msg):
            return
        body = {"unit": self.unit, "stopping": True}
        self.inbox.reply(token, json_frames(Kind.PONG, body, request=msg.request, session=msg.session))
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
    def _unit_field(self) -> int:
        return COORDINATOR if self.unit is None else self.unit

    def _send_peer(self, unit: int, request: int, vertex: int, tensor: torch.Tensor) -> None:
        frames = self.encoder.frames(tensor, request=request, vertex=vertex, unit=self.unit, session=self.session)
        if self.links[unit].send(frames):
            self.counters["sent_bytes"] += frames[1].nbytes
            self.counters["sent_messages"] += 1

    def _send_result(self, request: int, tensor: torch.Tensor) -> None:
        frames = tensor_frames(Kind.RESULT, tensor, request=request, vertex=self.runner.output_vertex,
                               unit=self.unit, session=self.session)
        self.inbox.reply(self.coordinator, frames)

    def _send_error(self, request: int, vertex: int, message: str) -> None:
        body = {"unit": self.unit, "vertex": vertex, "message": message[:ERROR_CHARS]}
        self.inbox.reply(self.coordinator, json_frames(Kind.ERROR, body, request=request, vertex=vertex,
                                                       unit=self.unit, session=self.session))

    @staticmethod
    def _close_links(links: dict[int, Link]) -> None:
        for link in links.values():
            link.close()
