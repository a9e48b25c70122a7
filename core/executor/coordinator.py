"""The coordinator: deploy a plan on workers, run inferences, report faults by unit.

Unit ``u`` of a plan runs on endpoint ``u`` of the cluster. The coordinator sends the
image to the unit(s) holding the input vertex, then waits for the logits from the unit
holding the output vertex; activations travel between workers directly.

Faults never hang a caller: every wait has a deadline (``timeout``). A worker that dies
is reported as soon as its connection drops (ZeroMQ socket monitor) with the unit and
its endpoint; if nothing is heard until the deadline, the coordinator pings every unit
and names those that do not answer. After a fault the cluster refuses further requests
until the next :meth:`Cluster.deploy`; the surviving workers keep serving and accept a
new deployment (from this or another coordinator).

Trust. Each deployment draws a session token (``secrets.token_bytes``) that every
message of the deployment carries; replies of another session are ignored, so answers
never cross between coordinators. A worker taken over by another coordinator's
deployment says so, and this cluster then fails with that reason. Every result is
checked (sender unit, vertex, request, dtype, shape) before it is handed out, and
whatever a misbehaving worker sends, the only exceptions raised here are
:class:`~parawire.errors.ParawireError`, and every wait ends at its deadline whatever
arrives meanwhile (each loop turn checks it; replies are bounded per kind by
:func:`~parawire.executor.protocol.decode`, so none costs more than its size to refuse).

Ownership without CURVE: ``owner_secret`` (a file written by ``parawire keys``) proves to
workers started with the same ``--owner-secret`` that this coordinator may deploy: each
``DEPLOY`` carries an HMAC of its session token under the secret (the secret itself never
travels), and such a worker refuses every deployment without it.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from parawire.errors import ParawireError
from parawire.executor.drops import Drops, describe
from parawire.executor.plan import Plan
from parawire.executor.protocol import (
    NO_SESSION,
    SESSION_BYTES,
    SOURCE,
    Kind,
    Message,
    ProtocolError,
    decode,
    json_frames,
    tensor_frames,
)
from parawire.executor.security import Curve, load_owner_secret, owner_proof, public_key
from parawire.executor.transport import Client, Incoming, get_transport
from parawire.registry.kinds import builtin

log = logging.getLogger("parawire.coordinator")

DIAGNOSE_PING_S = 0.5
"""How long a timed-out request waits for pongs before naming the units that did not answer
(so the caller has its error within ``timeout`` + this)."""

AWAITED = frozenset({Kind.READY, Kind.STATS, Kind.PONG})
"""The kinds (besides results and errors) a worker sends, filed until a call takes them (one
per kind and unit; a late pong is a few bytes). Anything else is dropped at once: filed, a
tensor or a deployment with weights would hold its bytes until the next deploy."""


@dataclass
class ClusterStats:
    """Traffic since the last deployment. ``peer_bytes`` counts tensor payloads sent
    between workers (headers apart), the quantity the partition's Λ predicts."""

    inferences: int
    peer_bytes: int
    peer_messages: int
    input_bytes: int
    per_unit: list[dict[str, Any]] = field(default_factory=list)

    @property
    def bytes_per_inference(self) -> float:
        return self.peer_bytes / self.inferences if self.inferences else 0.0

    def lambda_bytes(self, image_bytes: int) -> float:
        """Per inference of one image, every byte the plan's Λ (``cut_bytes``) counts:
        between workers, plus what the coordinator sent beyond one image (the scattered
        copies under the ``"scatter"`` policy; a tiling's crops overlap by their halos)."""
        if not self.inferences:
            return 0.0
        return (self.peer_bytes + self.input_bytes) / self.inferences - image_bytes


class Cluster:
    """A coordinator's connection to a set of workers (see module docstring)."""

    def __init__(self, client: Client, endpoints: Sequence[str], timeout: float, server_keys: Sequence[bytes | None],
                 owner_secret: bytes | None = None):
        self.client = client
        self.owner_secret = owner_secret
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self.server_keys = list(server_keys)
        self.plan: Plan | None = None
        self.session = NO_SESSION
        self.classes: int | None = None  # logits per image, when the spec says
        self._ids = itertools.count(1)
        self._results: dict[int, torch.Tensor] = {}
        self._replies: dict[tuple[Kind, int], Message] = {}
        self._pending: dict[int, torch.Tensor] = {}  # request → its input (for the result's checks)
        self._failed: str | None = None
        self._counts = {"inferences": 0, "input_bytes": 0}
        self.drops = Drops(log, "coordinator")

    @classmethod
    def connect(
        cls,
        endpoints: Sequence[str],
        transport: str = builtin("zmq"),
        *,
        timeout: float = 10.0,
        curve_secret: str | Path | None = None,
        curve_server: str | Path | bytes | Sequence[str | Path | bytes] | None = None,
        transport_params: Any = None,
        owner_secret: str | Path | None = None,
    ) -> Cluster:
        """Connect to workers. With CURVE: ``curve_secret`` is the coordinator's
        ``*.key_secret`` file, ``curve_server`` the workers' public key (one for all, or
        one per endpoint; file or Z85 text). ``transport_params`` go to the transport
        plugin, validated by its model. ``owner_secret``: the ``owner.secret`` file of
        workers started with ``--owner-secret`` (they refuse deployments without it)."""
        if not endpoints:
            raise ParawireError("Cluster.connect needs at least one endpoint")
        if timeout <= 0:
            raise ParawireError(f"timeout: got {timeout}; must be positive seconds")
        owner = load_owner_secret(owner_secret) if owner_secret is not None else None
        curve = None
        keys: list[bytes | None] = [None] * len(endpoints)
        if curve_secret is not None:
            if curve_server is None:
                raise ParawireError("curve_secret needs curve_server (the workers' public key)")
            curve = Curve.load(curve_secret)
            given = curve_server if isinstance(curve_server, (list, tuple)) else [curve_server] * len(endpoints)
            if len(given) != len(endpoints):
                raise ParawireError(f"curve_server: {len(given)} keys for {len(endpoints)} endpoints")
            keys = [public_key(k) for k in given]
        try:
            client = get_transport(transport, transport_params).client(list(endpoints), curve, keys)
        except ParawireError:
            raise
        except Exception as exc:  # raised inside a transport plugin: one line naming it
            raise ParawireError(f"transport {transport!r} cannot connect: {type(exc).__name__}: {exc}") from exc
        return cls(client, endpoints, timeout, keys, owner)

    # -- deployment --------------------------------------------------------------------
    def deploy(
        self, spec: Any, plan: Plan, weights: dict[int, bytes] | None = None, timeout: float | None = None,
        engine: str | None = None,
        engine_params: dict[str, Any] | None = None,
    ) -> None:
        """Send every unit its part of ``plan`` and wait until all have built their blocks.

        ``spec`` is an :class:`~parawire.graph.spec.ArchitectureSpec` or its JSON mapping;
        ``weights`` optionally maps unit → safetensors bytes of that unit's sub-network;
        ``engine`` names the inference engine plugin the workers compute with (``None``:
        the workers' default, :data:`parawire.registry.records.DEFAULT_ENGINE`), and
        ``engine_params`` its parameters: validated here with the engine's model and sent
        in the ``DEPLOY`` (each worker validates them again), so workers started anywhere
        compute with them; ``None`` leaves each worker its own (``--engine-param``).
        """
        if plan.units > len(self.endpoints):
            raise ParawireError(f"plan has {plan.units} units; the cluster has {len(self.endpoints)} endpoints")
        if engine is not None or engine_params is not None:
            from parawire.registry.manager import get_plugins, resolve_engine

            record = get_plugins().engines.get(resolve_engine(engine))  # an unknown name fails here
            if engine_params is not None:
                engine_params = record.resolve(engine_params).model_dump(mode="json", exclude_unset=True)
        spec_json = spec.model_dump(mode="json") if hasattr(spec, "model_dump") else dict(spec)
        plan_json = plan.model_dump(mode="json")
        peers = {
            str(u): {"address": self.endpoints[u], "server_key": k.decode() if k else None}
            for u, k in zip(range(plan.units), self.server_keys)
        }
        self.plan = None
        self._failed = None
        self._results.clear()
        self._pending.clear()
        self._replies.clear()
        self._counts = dict.fromkeys(self._counts, 0)
        self.session = secrets.token_bytes(SESSION_BYTES)
        self.classes = _classes(spec)
        for u in range(plan.units):
            body = {"spec": spec_json, "plan": plan_json, "unit": u, "peers": peers}
            if engine is not None:
                body["engine"] = engine
            if engine_params is not None:
                body["engine_params"] = engine_params
            if self.owner_secret is not None:
                body["owner"] = owner_proof(self.owner_secret, self.session)
            self.client.send(u, json_frames(Kind.DEPLOY, body, weights=(weights or {}).get(u), session=self.session))
        waiting = set(range(plan.units))
        deadline = time.monotonic() + (timeout or max(self.timeout, 60.0))
        while waiting:
            got = self._wait_reply(Kind.READY, waiting, deadline, "deployment", units=waiting)
            waiting.discard(got)
        self.plan = plan

    # -- inference ---------------------------------------------------------------------
    def submit(self, x: torch.Tensor) -> int:
        """Send one input; returns the request id for :meth:`result`."""
        plan = self._ready()
        rid = next(self._ids)
        frames = tensor_frames(Kind.INPUT, x, request=rid, vertex=SOURCE, session=self.session)
        for u in plan.input_units:
            if plan.tiling is not None:  # each tile unit gets its own crop of the image
                frames = tensor_frames(Kind.INPUT, plan.input_of(u, x), request=rid, vertex=SOURCE,
                                       session=self.session)
            self.client.send(u, frames)
            self._counts["input_bytes"] += frames[1].nbytes
        self._pending[rid] = x
        return rid

    def result(self, rid: int, timeout: float | None = None) -> torch.Tensor:
        """Wait for the logits of request ``rid``."""
        self._ready()
        if rid not in self._pending and rid not in self._results:
            raise ParawireError(f"request {rid}: not submitted since the last deploy (or already collected)")
        deadline = time.monotonic() + (timeout or self.timeout)
        while rid not in self._results:
            # The deadline is checked on every turn, whatever arrives: a peer streaming
            # replies (of another session, malformed, …) must not keep the caller waiting.
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._fail(self._diagnose(rid))
            item = self.client.recv(remaining)
            if item is not None:
                self._take(item, units=range(self.plan.units) if self.plan else ())
        self._pending.pop(rid, None)
        out = self._results.pop(rid)
        self._counts["inferences"] += 1
        return out

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        """One inference: the logits the whole network would compute for ``x``."""
        return self.result(self.submit(x))

    def infer_many(self, xs: Iterable[torch.Tensor]) -> list[torch.Tensor]:
        """Several requests in flight at once; results in input order."""
        rids = [self.submit(x) for x in xs]
        return [self.result(r) for r in rids]

    # -- control -----------------------------------------------------------------------
    def ping(self, timeout: float = 1.0, units: Iterable[int] | None = None) -> dict[int, bool]:
        """Which units answer within ``timeout`` seconds."""
        units = list(range(len(self.endpoints)) if units is None else units)
        for u in units:
            self.client.send(u, json_frames(Kind.PING, session=self.session))
        alive = dict.fromkeys(units, False)
        deadline = time.monotonic() + timeout
        waiting = set(units)
        while waiting and time.monotonic() < deadline:
            item = self.client.recv(max(0.0, deadline - time.monotonic()))
            if item is not None and item.event is None:
                msg = self._decode(item)
                if msg is not None and msg.kind is Kind.PONG and item.index in waiting:
                    alive[item.index] = True
                    waiting.discard(item.index)
                elif msg is not None and msg.kind is Kind.RESULT:
                    self._result(item.index, msg)
        return alive

    def stats(self) -> ClusterStats:
        """Traffic counters of every deployed unit since the deployment."""
        plan = self._ready()
        for u in range(plan.units):
            self.client.send(u, json_frames(Kind.STATS, session=self.session))
        per_unit: dict[int, dict] = {}
        deadline = time.monotonic() + self.timeout
        waiting = set(range(plan.units))
        while waiting:
            u = self._wait_reply(Kind.STATS, waiting, deadline, "stats", units=range(plan.units))
            body = self._replies.pop((Kind.STATS, u)).body
            if not all(type(body.get(k)) is int for k in ("sent_bytes", "sent_messages")):
                self._fail(f"{self._name(u)} sent malformed stats (sent_bytes, sent_messages must be integers)")
            per_unit[u] = body
            waiting.discard(u)
        units = [per_unit[u] for u in sorted(per_unit)]
        return ClusterStats(
            inferences=self._counts["inferences"],
            peer_bytes=sum(s["sent_bytes"] for s in units),
            peer_messages=sum(s["sent_messages"] for s in units),
            input_bytes=self._counts["input_bytes"],
            per_unit=units,
        )

    def shutdown(self) -> None:
        """Ask every worker of the current deployment to stop serving; a worker process then
        exits with status 0. Only the deployment's session stops a worker: one that is idle,
        or deployed by another coordinator, ignores it (stop those with a signal)."""
        for u in range(len(self.endpoints)):
            self.client.send(u, json_frames(Kind.SHUTDOWN, session=self.session))

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------
    def _ready(self) -> Plan:
        if self._failed is not None:
            raise ParawireError(f"{self._failed}; deploy again before the next request")
        if self.plan is None:
            raise ParawireError("nothing deployed; call cluster.deploy(spec, plan) first")
        return self.plan

    def _name(self, unit: int) -> str:
        return f"unit {unit} ({self.endpoints[unit]})"

    def _decode(self, item: Incoming) -> Message | None:
        """The message, if it decodes and belongs to this deployment's session."""
        if item.dropped is not None:
            self.drops(f"reply from {self._name(item.index)}: {item.dropped}")
            return None
        try:
            msg = decode(item.frames)
        except ProtocolError as exc:
            self.drops(f"malformed reply from {self._name(item.index)}: {exc}")
            return None
        if msg.session != self.session:
            self.drops(f"{msg.kind.name} from {self._name(item.index)} of another session")
            return None
        return msg

    def _take(self, item: Incoming, units: Iterable[int]) -> None:
        """File one incoming item; raise on a fault that concerns ``units``. A reply that
        breaks anything else is dropped: only ``ParawireError`` leaves the coordinator."""
        try:
            self._file(item, units)
        except ParawireError:
            raise
        except Exception as exc:
            self.drops(f"reply from {self._name(item.index)}: {describe(exc)}")

    def _file(self, item: Incoming, units: Iterable[int]) -> None:
        if item.event is not None:
            if item.index in set(units):
                self._fail(f"{self._name(item.index)} {item.event}")
            return
        msg = self._decode(item)
        if msg is None:
            return
        if msg.kind is Kind.RESULT:
            self._result(item.index, msg)
        elif msg.kind is Kind.ERROR:
            vertex = msg.body.get("vertex")
            where = f" at vertex {vertex}" if type(vertex) is int and vertex >= 0 else ""
            text = (str(msg.body.get("message") or "unknown error").splitlines() or ["unknown error"])[0][:1000]
            self._fail(f"{self._name(item.index)} failed{where}: {text}")
        elif msg.kind in AWAITED:
            self._replies[(msg.kind, item.index)] = msg
        else:
            self.drops(f"{msg.kind.name} from {self._name(item.index)}: a worker does not send it")

    def _result(self, index: int, msg: Message) -> None:
        """Keep a result after checking who sent it and that it can be the request's logits."""
        plan = self.plan
        x = self._pending.get(msg.request)
        if plan is None or x is None or msg.request in self._results:
            self.drops(f"result for request {msg.request} from {self._name(index)}: not awaited")
            return
        if index != plan.output_unit or msg.unit != plan.output_unit or msg.vertex != plan.output_vertex:
            self.drops(f"result for request {msg.request} from {self._name(index)} (unit {msg.unit},"
                       f" vertex {msg.vertex}); the plan's output is vertex {plan.output_vertex} on unit {plan.output_unit}")
            return
        out = msg.tensor
        expected = _logits_shape(x, self.classes)
        if out.dtype != x.dtype or (expected is not None and tuple(out.shape) != expected) or \
                (expected is None and x.dim() and (not out.dim() or out.shape[0] != x.shape[0])):
            want = f"shape {expected}" if expected is not None else f"{x.shape[0] if x.dim() else 1} rows"
            self._fail(f"{self._name(index)} returned a {out.dtype} tensor of shape {tuple(out.shape)} for"
                       f" request {msg.request}; expected {x.dtype} logits of {want}")
        self._results[msg.request] = out

    def _wait_reply(self, kind: Kind, waiting: set[int], deadline: float, what: str, units: Iterable[int]) -> int:
        units = set(units)
        while True:
            for u in waiting:
                if (kind, u) in self._replies:
                    if kind is Kind.READY:
                        del self._replies[(kind, u)]
                    return u
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                names = ", ".join(self._name(u) for u in sorted(waiting))
                self._fail(f"{what}: no answer from {names} within the timeout")
            item = self.client.recv(remaining)
            if item is not None:
                self._take(item, units)

    def _diagnose(self, rid: int) -> str:
        """After a timeout: which units still answer?"""
        units = range(self.plan.units) if self.plan else range(len(self.endpoints))
        alive = self.ping(timeout=min(DIAGNOSE_PING_S, self.timeout), units=units)
        dead = [u for u, ok in alive.items() if not ok]
        if dead:
            names = ", ".join(self._name(u) for u in dead)
            return f"request {rid}: no result within {self.timeout:g} s; {names} does not answer"
        return (
            f"request {rid}: no result within {self.timeout:g} s although every unit answers;"
            " a message was lost or a vertex is slower than the timeout (raise timeout=)"
        )

    def _fail(self, message: str) -> None:
        for rid in self._pending:
            for u in range(self.plan.units if self.plan else 0):
                self.client.send(u, json_frames(Kind.CANCEL, request=rid, session=self.session))
        self._pending.clear()
        self._failed = message
        raise ParawireError(message)


def _classes(spec: Any) -> int | None:
    """Logits per image, when ``spec`` is (or parses as) an architecture spec."""
    classes = getattr(spec, "classes", None)
    if classes is None and isinstance(spec, dict) and "generator" in spec:
        try:
            from parawire.graph.spec import ArchitectureSpec

            classes = ArchitectureSpec.parse(spec, source="deployment spec").classes
        except Exception:
            return None
    return classes if isinstance(classes, int) else None


def _logits_shape(x: torch.Tensor, classes: int | None) -> tuple[int, ...] | None:
    """The result's shape for input ``x``: (batch, classes) or (classes,) for one image."""
    if classes is None or x.dim() not in (3, 4):
        return None
    return (x.shape[0], classes) if x.dim() == 4 else (classes,)
