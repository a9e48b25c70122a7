"""Predicted latency of one inference spread over units: a small discrete-event simulation.

The paper reports measured inference time on up to 10 single-vCPU machines (§4,
Figures 8 and 13) but never states a model. This module is ours, kept deliberately
simple so that a study can call it thousands of times and a person can check it by hand:

* **Compute.** Vertex ``v`` takes ``flops[v] / profile.flops_per_s`` seconds on its unit,
  plus the profile's fixed costs (:func:`vertex_seconds`): ``vertex_overhead_s`` per
  vertex, ``input_overhead_s`` per input beyond the first, and the bytes its inputs hold
  (the inputs' ``out_bytes``) at ``memory_bytes_per_s``, and its float32 parameters
  (``params`` × 4 bytes) at ``weight_bytes_per_s``. The last term is what a FLOPs-only
  model misses most: a 1×1 convolution of 1024 channels on a 2×2 map does 4 M
  multiply-adds but streams 4 MB of weights, and with ONNX Runtime such vertices take
  ten times what their MACs predict (docs/latency.md). ``flops`` are multiply-adds,
  the convention of ``parawire.network.cost.Costs.flops``, so ``flops_per_s`` is multiply-adds
  per second. A unit computes one vertex at a time.
* **Order inside a unit.** ``policy="static"`` (default): each unit runs its vertices
  in one fixed order, the global topological order (``dag.order`` unless ``order`` is
  given) restricted to that unit; a unit whose next vertex still waits for an input
  idles, even if a later vertex of its own could run. Deterministic, and it can never
  deadlock because every unit follows the same global order. ``policy="ready"``: a
  free unit runs, among its vertices whose inputs have all *arrived*, the one first in
  the order, as the executor's workers do (``parawire.executor.runner``).
* **Messages.** When ``v`` finishes, its output goes once to every *other* unit that
  holds a successor of ``v`` (the hypergraph's connectivity, so bytes sent = Λ). One
  message takes ``message_latency_s + out_bytes[v] / bandwidth_bytes_per_s`` and keeps
  its resource busy for all of that time. On a ``shared`` network (one bus, like the
  paper's t2.micro nodes behind one virtual switch) every message in the system is
  serialised; on a ``switched`` network a unit sends one message at a time and receives
  one at a time, but different pairs overlap. Messages are served first come, first
  served (ties: producer's position in the order, then receiving unit id). Sending
  does not stop the unit computing (ZeroMQ sends from its own I/O thread).
* **Message CPU** (``message_cpu_s``, each end of each message): the sender's unit
  spends it after the vertex, while the message travels; the receiver's from the moment
  the bytes start to arrive (ZeroMQ's I/O thread takes them in as they stream), and the
  input is usable once both that work and the last byte are done. Charged before the
  message could leave and after its last byte had arrived, the same cost put whole
  messages' CPU on the critical path where the devices overlap it with their links
  (Figure 13's 4- and 6-device points were 10–20 % pessimistic, docs/testbed.md).
* **Input and output.** Under ``input_policy="stem"`` the input vertex (stem) and output
  vertex (head) are ordinary vertices of the partition: the image starts on the unit
  holding ``dag.input``, which computes the stem and scatters its output to the units
  that consume it. Under ``"scatter"`` every unit holding a successor of the stem gets
  the image and runs its own copy of the stem; the stem's output never crosses
  (``parawire.score.hypergraph`` explains the policies). The output vertex gathers one message
  from every other unit holding one of its predecessors. The makespan is the time the
  last vertex finishes (the output vertex in our DAGs).
* **End to end** (``source_bytes`` given, as a client measures it): the image starts on
  a coordinator, which sends it to each unit that needs it, each copy on that unit's
  link (switched: the coordinator's own port is not shaped, as on the testbed) or one
  after another over the bus (shared), before those units can start;
  the logits' return message is added at the end.

Everything is plain Python over at most a few hundred vertices; see
``benchmarks/test_bench_latency.py`` for calls per second.
"""

from __future__ import annotations

import heapq
import math
import weakref
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from parawire.errors import ParawireError
from parawire.graph.dag import Dag
from parawire.latency.calls import engine_calls
from parawire.latency.wire import Wire, wire_or_raw
from parawire.network.cost import FLOAT32_BYTES
from pydantic import BaseModel, ConfigDict, Field


class DeviceProfile(BaseModel):
    """A homogeneous set of units and the network between them.

    ``flops_per_s`` counts multiply-adds per second per unit (the unit of
    ``Costs.flops``), not floating-point operations: one MAC is two FLOPs.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    flops_per_s: float = Field(gt=0, description="multiply-adds per second, per unit")
    bandwidth_bytes_per_s: float = Field(gt=0, description="payload bytes per second")
    message_latency_s: float = Field(ge=0, description="fixed cost of one message")
    network: Literal["shared", "switched"] = "shared"
    vertex_overhead_s: float = Field(0.0, ge=0, description="fixed cost of running one vertex")
    input_overhead_s: float = Field(0.0, ge=0, description="fixed cost per input beyond the first")
    memory_bytes_per_s: float | None = Field(
        None, gt=0, description="rate of reading a vertex's inputs; None: free")
    weight_bytes_per_s: float | None = Field(
        None, gt=0, description="rate of reading a vertex's float32 parameters; None: free")
    burst_bytes: float = Field(
        0.0, ge=0, description="payload bytes an idle link passes at once (a tbf bucket); 0: none")
    cpu_quota: float | None = Field(
        None, gt=0, le=1, description="CFS bandwidth control: share of a core each unit may use; None: none")
    cpu_period_s: float = Field(0.01, gt=0, description="CFS period over which cpu_quota is enforced")
    cpu_reserve_s: float = Field(
        0.0, ge=0, description="CPU seconds a unit keeps across CFS periods (Linux: 1 ms); see Quota")
    message_cpu_s: float = Field(
        0.0, ge=0, description="CPU time a unit spends on each message it sends or receives")
    call_s: float = Field(
        0.0, ge=0, description="CPU time of one engine call beyond its vertices' compute; see simulate")
    source: str = ""

    def compute_s(self, flops: np.ndarray, inputs: np.ndarray | float = 0,
                  in_bytes: np.ndarray | float = 0, weight_bytes: np.ndarray | float = 0) -> np.ndarray:
        """Seconds per vertex on one unit, from its MACs, its inputs beyond the first
        (each adds aggregation work: scaling, sigmoid, weighted add), the bytes all
        its inputs hold and the bytes of its parameters (all default 0: then only MACs
        and the fixed cost)."""
        seconds = np.asarray(flops, dtype=np.float64) / self.flops_per_s + self.vertex_overhead_s
        if self.input_overhead_s:
            seconds = seconds + self.input_overhead_s * np.asarray(inputs, dtype=np.float64)
        if self.memory_bytes_per_s is not None:
            seconds = seconds + np.asarray(in_bytes, dtype=np.float64) / self.memory_bytes_per_s
        if self.weight_bytes_per_s is not None:
            seconds = seconds + np.asarray(weight_bytes, dtype=np.float64) / self.weight_bytes_per_s
        return seconds

    def slowed(self, factor: float) -> DeviceProfile:
        """This profile computing ``factor`` times slower: every compute rate divided by it,
        every fixed compute cost multiplied (what a fitted ``compute_scale`` varies)."""
        def rate(value: float | None) -> float | None:
            return None if value is None else value / factor

        return self.model_copy(update={
            "flops_per_s": self.flops_per_s / factor, "vertex_overhead_s": self.vertex_overhead_s * factor,
            "input_overhead_s": self.input_overhead_s * factor,
            "memory_bytes_per_s": rate(self.memory_bytes_per_s), "weight_bytes_per_s": rate(self.weight_bytes_per_s)})

    def message_s(self, nbytes: np.ndarray | float) -> np.ndarray | float:
        """Seconds one message of ``nbytes`` keeps its resource busy (on a link whose
        bucket is empty, or that has none)."""
        return self.message_latency_s + np.asarray(nbytes, dtype=np.float64) / self.bandwidth_bytes_per_s

    def idle_message_s(self, nbytes: float) -> float:
        """Seconds one message of ``nbytes`` takes on an idle link (its bucket full)."""
        return self.message_latency_s + max(nbytes - self.burst_bytes, 0.0) / self.bandwidth_bytes_per_s


QUOTA_PHASES = 4
"""A profile with a CPU quota is simulated this many times, with the units' CFS periods
at evenly spread phases, and the makespans averaged: where a period boundary falls
decides whether a short slice of work runs at once or waits up to ``period − budget``."""

COMPUTE_SPREAD = 0.05
"""Under a quota each of the :data:`QUOTA_PHASES` runs also computes at its own speed,
evenly spread over ±5 %: a device's CPU per inference varies from run to run (the same
1-device DP-40 placement took 7.6–8.3 ms of CPU per inference in four testbed points),
and the latency is a staircase in it: work beyond budget + reserve waits for the next
boundary, at the same amount of work whatever the phase, so averaging phases alone left
steps of most of a period (DP-40 on one device predicted 20.8 ms at 8.0 ms of CPU and
27.1 ms at 8.2). Measured medians sit on the smoothed staircase; on the steps the
1-device fit missed by up to 24 %. Re-simulated with the spread, 21 of 22 testbed
1-device fits land within 5 % (19 without) and 51 of 60 multi-device points within
15 % (48), docs/testbed.md."""


def quota_speeds(runs: int = QUOTA_PHASES) -> list[float]:
    """The compute factor of each quota run: evenly spread over ±:data:`COMPUTE_SPREAD`
    (mean 1), in an order uncorrelated with the runs' phases (stride 3, coprime with
    ``runs`` when ``runs`` is not a multiple of 3)."""
    return [1 + COMPUTE_SPREAD * ((2 * ((3 * j) % runs) + 1) / runs - 1) for j in range(runs)]


GOLDEN = (5 ** 0.5 - 1) / 2
"""Spreads the units' period phases evenly (the fractional parts of u × GOLDEN)."""


class Quota:
    """When each unit computes under a CPU quota (Linux CFS bandwidth control, as the
    testbed limits its devices). The profile's rates are the *unthrottled* ones.

    CFS gives a group ``budget = quota × period`` of CPU time at every period boundary
    and stops it, until the next boundary, once that is spent; unused budget is not
    carried over. So a quarter-core device runs 2.5 ms of work at full speed, then
    waits for the next 10 ms boundary: short slices cost their CPU time, a slice that
    arrives after the budget is spent waits up to 7.5 ms, and a long run averages a
    quarter of full speed. Each unit's periods start at its own ``offset`` (its cgroup's
    timer), so :func:`simulate` averages over :data:`QUOTA_PHASES` phases. Measured on
    the testbed (docs/latency.md): a 4-device DP-40 whose units compute 4–5 ms per
    inference in short slices ran them at 1.1–1.5× their CPU time, not the 4× a
    uniformly slower unit would take.

    **The reserve** (``profile.cpu_reserve_s``). The budget is handed to a CPU in slices
    and the CPU keeps what it holds when the group goes idle, up to
    ``min_cfs_rq_runtime`` (1 ms in Linux since 5.4, which stopped expiring it at the
    boundary); the rest goes back. That reserve survives the boundary, while the
    budget is refilled beside it, so a unit that idled runs ``budget + reserve`` before
    it is first throttled. Measured on one 0.25-core cgroup here (after 30–40 ms idle,
    medians of 25): 3 ms of work took 3.0 ms (the plain budget says 6.0 on average),
    4 ms 5.2, 8 ms 19.7, 30 ms 110 (``parawire testbed calibrate`` fits it, and
    docs/latency.md has the table). On 4 devices, where each unit computes 4–6 ms per
    inference in slices, the plain budget over-predicted DP-40 by 26–52 %.
    So each unit holds its ``reserve`` (spent first, kept across boundaries) and the
    period's ``left`` budget; a unit that needs more pulls the whole budget into its
    reserve, as a CPU takes a slice, and returns all but ``reserve_s`` of it when its
    run ends.
    """

    __slots__ = ("budget", "index", "left", "offset", "period", "reserve", "reserve_s", "speed")

    def __init__(self, k: int, profile: DeviceProfile, phase: float = 0.0, speed: float = 1.0) -> None:
        self.speed = speed  # the units' work is multiplied by this (:data:`COMPUTE_SPREAD`)
        self.period = profile.cpu_period_s
        self.budget = profile.cpu_quota * profile.cpu_period_s
        self.reserve_s = profile.cpu_reserve_s
        self.offset = [((phase + u * GOLDEN) % 1.0) * self.period for u in range(k)]
        self.index = [-(1 << 62)] * k  # the period ``left`` belongs to
        self.left = [0.0] * k
        self.reserve = [self.reserve_s] * k  # units start idle, their reserve full

    def run(self, u: int, now: float, work: float) -> float:
        """Wall seconds unit ``u`` takes from ``now`` for ``work`` unthrottled seconds."""
        if work <= 0.0:
            return 0.0
        work *= self.speed
        period, budget, offset = self.period, self.budget, self.offset[u]
        i = math.floor((now - offset) / period)
        left = self.left[u] if self.index[u] == i else budget
        held = self.reserve[u]
        t = now
        while True:
            boundary = offset + (i + 1) * period
            if held <= 0.0 and left > 0.0:  # the CPU takes the period's budget as its slice
                held, left = held + left, 0.0
            if held > 0.0:
                room = boundary - t
                if work <= held + 1e-12 and work <= room:  # done inside this period (1 ps: rounding)
                    t, held = t + work, max(held - work, 0.0)
                    break
                step = min(held, room)
                work, held = work - step, held - step
                if step < room:  # out of CPU time before the boundary: throttled until it
                    t += step
                    continue
            # the next period: a new budget; of what is held only the reserve carries over
            t, i, left, held = boundary, i + 1, budget, min(held, self.reserve_s)
        # the run ends: all but the reserve goes back to the period's budget
        extra = max(held - self.reserve_s, 0.0)
        self.reserve[u], self.left[u], self.index[u] = held - extra, left + extra, i
        return t - now


@dataclass(frozen=True)
class Transfer:
    """One message: ``vertex``'s output sent from unit ``src`` to unit ``dst``."""

    vertex: int
    src: int
    dst: int
    start: float
    end: float


@dataclass
class Trace:
    """What ``simulate`` did, for debugging and plots; pass one in to have it filled."""

    start: dict[int, float] = field(default_factory=dict)
    finish: dict[int, float] = field(default_factory=dict)
    unit: dict[int, int] = field(default_factory=dict)
    transfers: list[Transfer] = field(default_factory=list)

    def busy(self, k: int) -> np.ndarray:
        """Seconds each of the ``k`` units spent computing."""
        out = np.zeros(k)
        for v, u in self.unit.items():
            out[u] += self.finish[v] - self.start[v]
        return out

    def bytes_sent(self, out_bytes: np.ndarray) -> int:
        """Total payload bytes of all messages (equals the partition's Λ)."""
        return int(sum(int(out_bytes[t.vertex]) for t in self.transfers))


@dataclass(frozen=True)
class _Shape:
    """The DAG as flat lists, computed once per Dag object."""

    n: int
    order: tuple[int, ...]
    preds: tuple[tuple[int, ...], ...]
    succs: tuple[tuple[int, ...], ...]
    edge_src: np.ndarray
    edge_dst: np.ndarray
    inputs: np.ndarray


_shapes: weakref.WeakKeyDictionary[Dag, _Shape] = weakref.WeakKeyDictionary()


def dag_shape(dag: Dag) -> _Shape:
    """Flat predecessor/successor lists indexed by vertex id (cached per Dag)."""
    shape = _shapes.get(dag)
    if shape is None:
        n = max(dag.graph.nodes) + 1
        if n != dag.graph.number_of_nodes():
            raise ParawireError(f"dag: vertices must be 0..{dag.graph.number_of_nodes() - 1}; "
                                f"got max id {n - 1}")
        preds = tuple(dag.preds[v] for v in range(n))
        edges = np.array([(u, v) for v in range(n) for u in preds[v]], dtype=np.int64).reshape(-1, 2)
        shape = _Shape(
            n=n,
            order=tuple(dag.order),
            preds=preds,
            succs=tuple(dag.succs[v] for v in range(n)),
            edge_src=edges[:, 0],
            edge_dst=edges[:, 1],
            inputs=np.array([max(len(p) - 1, 0) for p in preds], dtype=np.float64),
        )
        _shapes[dag] = shape
    return shape


INTERLEAVE_BYTES = 64 * 1024
"""Bytes ZeroMQ writes to one peer's connection before the next peer's turn, as the
testbed's records fit it: replaying every recorded Figure-13 point, 32–128 KB put the
most points within 15 % (both sizes), 16 KB and 256 KB+ fewer
(``benchmarks/testbed_resimulate.py``; docs/testbed.md, fifth round)."""


class Network:
    """When the network's resources are free: one bus (``shared``), or one send and one
    receive port per unit (``switched``). ``book`` serves a message as early as its
    resources allow after ``ready``; callers book in the order messages are served.

    With the profile's ``burst_bytes`` each resource is also a token bucket, as Linux's
    ``tbf`` shapes the testbed's links: an idle link lets that many bytes pass at once
    and refills at the link rate, so a message waits only for the bytes its buckets
    lack (both ports' on a switched network). Without a burst every byte goes at the
    rate, and a message takes :meth:`DeviceProfile.message_s`.

    ``unshaped``: a unit whose own ports are no bottleneck on a switched network (the
    coordinator: on the testbed it sits on the bridge, and each device's link is shaped
    at the device, so crops or image copies to several devices travel at once, each on
    its device's link; modelled one after another, a 1×4 tiling of DP-40 at 224 px was
    predicted 254 ms and measured 164–166).
    """

    __slots__ = ("burst", "bus", "latency", "rate", "recv", "send", "shared", "tokens", "unshaped")

    def __init__(self, k: int, profile: DeviceProfile, unshaped: int | None = None) -> None:
        self.unshaped = unshaped
        self.shared = profile.network == "shared"
        self.latency = profile.message_latency_s
        self.rate = profile.bandwidth_bytes_per_s
        self.burst = profile.burst_bytes
        self.bus = 0.0
        self.send = [0.0] * k
        self.recv = [0.0] * k
        self.tokens: dict[tuple[str, int], tuple[float, float]] = {}  # resource → (tokens, as of when)

    def book(self, src: int, dst: int, ready: float, nbytes: float) -> tuple[float, float]:
        """Reserve the resources for one message of ``nbytes``; return when it starts and
        when it has arrived (its last byte through, plus the message latency)."""
        if self.shared:
            begin = max(self.bus, ready)
            end = self._pass(("bus", 0), begin, nbytes)
            self.bus = end + self.latency
            return begin, end + self.latency
        # switched: the sender's port, then the receiver's, each a FIFO queue fed as the
        # bytes come (a switch's, or the testbed's two tbf qdiscs in series with a bridge
        # between). The sender's port is free again once its bytes have left, whether or
        # not the receiver's port has passed them on: booked as one circuit, a sender
        # waited for a busy receiver before it could serve another, and fan-ins made the
        # model 17 % pessimistic on 6 testbed devices (DP-40 and ER-40, docs/testbed.md)
        free = self.unshaped
        begin = sent = ready
        if src != free:
            begin = max(ready, self.send[src])
            sent = self.send[src] = self._pass(("send", src), begin, nbytes)
        end = sent
        if dst != free:
            start = max(begin, self.recv[dst])
            through = self._pass(("recv", dst), start, nbytes)
            end = self.recv[dst] = max(sent, through)
        return begin, end + self.latency

    def copies(self, src: int, dsts: Sequence[int], ready: float, nbytes: float) -> list[tuple[float, float]]:
        """Book one tensor's copies to several units: (start, arrival) per ``dsts``.

        The worker hands every copy to ZeroMQ at once, one TCP connection per peer, and
        ZeroMQ's I/O thread writes each connection's bytes in turns of about
        :data:`INTERLEAVE_BYTES` (what the kernel's send buffer takes at a time), so the
        sender's port passes the copies round-robin: copy ``i`` of ``m`` is through when
        all the bytes before its last turn are, ``(m - 1 - i)`` turns before the last
        copy. A copy no larger than a turn goes whole, one after another, as booked.
        Booked one after another at any size, the first peers of a 3.2 MB map had it
        hundreds of ms early, and DP-40 at 224 px on 4 testbed devices was predicted
        1,855 ms against 2,400 measured in every run (docs/testbed.md, fifth round)."""
        booked = [self.book(src, dst, ready, nbytes) for dst in dsts]
        if len(booked) < 2 or src == self.unshaped:  # the coordinator: a shaped link per device
            return booked
        sent = self.bus if self.shared else self.send[src] + self.latency
        turn = min(nbytes, INTERLEAVE_BYTES) / self.rate
        last = len(booked) - 1
        return [(begin, max(end, sent - (last - i) * turn)) for i, (begin, end) in enumerate(booked)]

    def _pass(self, resource: tuple[str, int], begin: float, nbytes: float) -> float:
        """When ``nbytes`` have passed ``resource``, taken at ``begin``: at the rate, or,
        with a bucket, at once what the bucket holds and the rest at the rate (the bucket
        drawn down)."""
        if not self.burst:  # the common case, kept cheap: thousands of simulations per study
            return begin + nbytes / self.rate
        tokens = self._tokens(resource, begin)
        end = begin + max(nbytes - tokens, 0.0) / self.rate
        self.tokens[resource] = (min(self.burst, tokens - nbytes + (end - begin) * self.rate), end)
        return end

    def _tokens(self, resource: tuple[str, int], now: float) -> float:
        tokens, when = self.tokens.get(resource, (self.burst, 0.0))
        return min(self.burst, tokens + (now - when) * self.rate)

    def copy(self) -> Network:
        other = object.__new__(Network)
        other.shared, other.latency, other.rate, other.burst = self.shared, self.latency, self.rate, self.burst
        other.unshaped = self.unshaped
        other.bus, other.send, other.recv, other.tokens = self.bus, self.send[:], self.recv[:], dict(self.tokens)
        return other


def _check(name: str, values: np.ndarray, n: int) -> None:
    if len(values) != n:
        raise ParawireError(f"{name}: got {len(values)} entries; need one per DAG vertex ({n})")


def input_bytes(dag: Dag, out_bytes: np.ndarray) -> np.ndarray:
    """Bytes each vertex reads: the sum of its predecessors' ``out_bytes``."""
    shape = dag_shape(dag)
    _check("out_bytes", out_bytes, shape.n)
    weights = np.asarray(out_bytes, dtype=np.float64)[shape.edge_src]
    return np.bincount(shape.edge_dst, weights=weights, minlength=shape.n)


def vertex_seconds(
    dag: Dag, flops: np.ndarray, out_bytes: np.ndarray | None, profile: DeviceProfile,
    params: np.ndarray | None = None,
) -> np.ndarray:
    """Seconds each vertex computes on one unit (:meth:`DeviceProfile.compute_s`), with
    its inputs beyond the first and the bytes all inputs hold taken from the DAG and ``out_bytes``,
    and its weights' bytes from ``params`` (parameters per vertex; ``None`` for either:
    no such term, which can only lower the result)."""
    shape = dag_shape(dag)
    _check("flops", flops, shape.n)
    in_bytes = 0.0
    if out_bytes is not None and profile.memory_bytes_per_s is not None:
        in_bytes = input_bytes(dag, out_bytes)
    weight_bytes = 0.0
    if params is not None:
        _check("params", params, shape.n)
        weight_bytes = np.asarray(params, dtype=np.float64) * FLOAT32_BYTES
    return profile.compute_s(flops, shape.inputs, in_bytes, weight_bytes)


def simulate(
    dag: Dag,
    flops: np.ndarray,
    out_bytes: np.ndarray,
    partition: np.ndarray,
    profile: DeviceProfile,
    *,
    order: Sequence[int] | None = None,
    policy: Literal["static", "ready"] = "static",
    trace: Trace | None = None,
    input_policy: Literal["stem", "scatter"] = "stem",
    source_bytes: int | None = None,
    params: np.ndarray | None = None,
    wire: Wire | None = None,
    scaled: Mapping[int, Collection[int]] | None = None,
) -> float:
    """Makespan in seconds of one inference under ``partition`` (vertex -> unit).

    ``order`` (a topological order of all vertices, default ``dag.order``) ranks each
    unit's vertices; ``policy`` says whether a unit follows that rank strictly
    (``"static"``) or runs the first of its vertices whose inputs have arrived
    (``"ready"``, the executor's workers). Pass a ``Trace`` to record every start,
    finish and message. ``input_policy`` and ``source_bytes`` (the image's bytes:
    charge its delivery and the logits' return) are described in the module docstring.
    ``params`` (parameters per vertex) feeds the profile's weight term. ``wire`` (the
    plan's codecs, :mod:`parawire.latency.wire`; default float32) sets each message's
    bytes, adds encoding to the producer's compute when its output crosses and decoding
    to each message's arrival.

    **Engine calls.** With ``profile.call_s`` (``parawire testbed calibrate`` measures it;
    0 elsewhere), each engine call a worker makes costs that much CPU on top of its
    vertices' compute, charged to the vertex that starts it
    (:func:`parawire.latency.calls.engine_calls`; ``scaled``: each vertex's inputs that
    pass a scaling block, ``Costs.scaled``, whose steps are calls of their own). A unit
    holding the whole network makes one call; a split one makes one per run of its
    vertices between messages, so this is what a split network pays for being split.
    """
    shape = dag_shape(dag)
    n = shape.n
    _check("out_bytes", out_bytes, n)
    _check("partition", partition, n)
    if policy not in ("static", "ready"):
        raise ParawireError(f"policy: got {policy!r}; use 'static' or 'ready'")
    if input_policy not in ("stem", "scatter"):
        raise ParawireError(f"input policy: got {input_policy!r}; use 'stem' or 'scatter'")
    part = [int(p) for p in partition]
    if min(part) < 0:
        raise ParawireError(f"partition: got unit {min(part)}; units are numbered from 0")
    k = max(part) + 1
    compute = vertex_seconds(dag, flops, out_bytes, profile, params)
    if profile.call_s:
        compute = compute + profile.call_s * engine_calls(dag, part, scaled, input_policy)
    compute = compute.tolist()
    coded = wire_or_raw(wire, out_bytes)
    wire_bytes = coded.bytes.astype(np.float64).tolist()
    decode_s = (coded.decode_macs / profile.flops_per_s).tolist()
    if coded.encode_macs.any():
        _charge_encoding(compute, coded.encode_macs / profile.flops_per_s, part, shape,
                         dag.input if input_policy == "scatter" else None)
    seq = order if order is not None else shape.order
    if len(seq) != n:
        raise ParawireError(f"order: got {len(seq)} vertices; need all {n}")

    static = policy == "static"
    stem = dag.input
    scatter = input_policy == "scatter"
    stem_units = sorted({part[w] for w in shape.succs[stem]}) if scatter else [part[stem]]
    queues: list[list[int]] = [[] for _ in range(k)]
    position = [0] * n
    for i, v in enumerate(seq):
        for u in stem_units if v == stem else (part[v],):
            queues[u].append(v)
        position[v] = i
    receive = profile.message_cpu_s
    # a unit's CPU for the messages a vertex sends to peers: after the vertex, while they
    # travel (ZeroMQ's I/O thread sends them); the logits' before the coordinator has them
    send_cpu = [0.0] * n
    if receive:
        for v in range(n):
            sends = len({part[w] for w in shape.succs[v]} - {part[v]}) if not (scatter and v == stem) else 0
            send_cpu[v] = receive * sends
            compute[v] += receive * (source_bytes is not None and v == dag.output)

    def run(quota: Quota | None, trace: Trace | None) -> float:
        head = [0] * k  # static: index of the unit's next vertex in its queue
        waiting: list[list[int]] = [[] for _ in range(k)]  # ready: positions whose inputs are all in
        inbox: list[list[int]] = [[] for _ in range(k)]  # messages a unit has yet to take in (their vertex)
        busy = [False] * k
        pending = [len(p) for p in shape.preds]
        # (time, kind, position, vertex, unit): kind 0 = the message of vertex is usable on
        # unit (its last byte there, and its CPU work done or none), kind 1 = it starts to
        # arrive (its CPU work may begin), kind 2 = vertex finishes, kind 3 = the unit's CPU
        # has taken the message in, kind 4 = the unit's CPU has sent a vertex's messages;
        # arrivals at one instant are seen before the unit picks.
        events: list[tuple[float, int, int, int, int]] = []
        arrival: dict[tuple[int, int], float] = {}  # (vertex, unit): when its message's last byte is there
        network = Network(k + 1, profile, unshaped=k)  # unit k: the coordinator
        makespan = 0.0
        done = 0
        gated = set(stem_units)  # units the image has not reached yet

        def arrive(w: int) -> None:
            pending[w] -= 1
            if pending[w] == 0 and not static:
                heapq.heappush(waiting[part[w]], position[w])

        def took_in(v: int, u: int) -> None:
            """Unit ``u`` holds the message of ``v`` (the image when ``v`` is the stem)."""
            if v == stem and u in gated:
                gated.discard(u)
                if not static:
                    heapq.heappush(waiting[u], position[v])
                return
            for w in shape.succs[v]:
                if part[w] == u:
                    arrive(w)

        def start(u: int, now: float, seconds: float) -> float:
            busy[u] = True
            return now + (seconds if quota is None else quota.run(u, now, seconds))

        def deliver(v: int, u: int, begin: float, end: float) -> None:
            """The message of ``v``, sent at ``begin``, has reached unit ``u`` at ``end``. A
            unit's CPU takes a message in while its bytes stream in (ZeroMQ's I/O thread),
            from the first byte (a message latency after ``begin``); the message is
            usable once both that work and the last byte are done."""
            if receive and not (v == stem and u in gated and source_bytes is None):
                arrival[v, u] = end
                heapq.heappush(events, (min(begin + profile.message_latency_s, end), 1, position[v], v, u))
            else:
                heapq.heappush(events, (end, 0, position[v], v, u))

        def pick(u: int, now: float) -> None:
            """If unit ``u`` is idle, take in a message or start the vertex its policy allows."""
            if busy[u]:
                return
            if inbox[u]:
                v = inbox[u].pop(0)
                heapq.heappush(events, (start(u, now, receive), 3, position[v], v, u))
                return
            if static:
                q = queues[u]
                if head[u] == len(q) or pending[q[head[u]]] or (q[head[u]] == stem and u in gated):
                    return
                v = q[head[u]]
                head[u] += 1
            else:
                if not waiting[u]:
                    return
                v = seq[heapq.heappop(waiting[u])]
            end = start(u, now, compute[v])
            heapq.heappush(events, (end, 2, position[v], v, u))
            if trace is not None:
                trace.start[v], trace.finish[v], trace.unit[v] = now, end, u

        for u in stem_units:  # the image arrives: at once, or after its message from the coordinator
            begin = end = 0.0
            if source_bytes is not None:
                begin, end = network.book(k, u, 0.0, source_bytes)
            deliver(stem, u, begin, end)
        while events:
            now, kind, _, v, u = heapq.heappop(events)
            if kind == 1:
                inbox[u].append(v)
                pick(u, now)
                continue
            if kind == 0:
                took_in(v, u)
                pick(u, now)
                continue
            busy[u] = False
            if kind == 4:
                pick(u, now)
                continue
            if kind == 3:
                if arrival[v, u] <= now:
                    took_in(v, u)
                else:
                    heapq.heappush(events, (arrival[v, u], 0, position[v], v, u))
                pick(u, now)
                continue
            makespan = now
            done += 1
            if v == stem and scatter:  # each copy feeds its own unit only
                for w in shape.succs[v]:
                    if part[w] == u:
                        arrive(w)
                pick(u, now)
                continue
            dsts = sorted({part[w] for w in shape.succs[v]} - {u})
            for dst, (begin, end) in zip(dsts, network.copies(u, dsts, now, wire_bytes[v])):
                # the message is usable once decoded (its codec's decode, on arrival)
                deliver(v, dst, begin, end + decode_s[v])
                if trace is not None:
                    trace.transfers.append(Transfer(v, u, dst, begin, end))
            for w in shape.succs[v]:
                if part[w] == u:
                    arrive(w)
            if send_cpu[v]:
                heapq.heappush(events, (start(u, now, send_cpu[v]), 4, position[v], v, u))
                continue
            pick(u, now)
        if done < n + len(stem_units) - 1:
            raise ParawireError("order: not a topological order of the DAG; some vertex never ran")
        return makespan

    if profile.cpu_quota is None:
        makespan = run(None, trace)
    else:  # the mean over the phases of the units' CFS periods (they are not aligned)
        makespan = sum(run(Quota(k, profile, (j + 0.5) / QUOTA_PHASES, speed), trace if j == 0 else None)
                       for j, speed in enumerate(quota_speeds())) / QUOTA_PHASES
    if source_bytes is not None:
        makespan += profile.idle_message_s(float(out_bytes[dag.output]))
    return makespan


def _charge_encoding(compute: list[float], encode_s: np.ndarray, part: list[int], shape: _Shape,
                     scattered: int | None) -> None:
    """Add each crossing output's encoding to its producer's compute (a scattered stem never crosses)."""
    for v in range(shape.n):
        if v != scattered and any(part[w] != part[v] for w in shape.succs[v]):
            compute[v] += float(encode_s[v])


def critical_path_s(
    dag: Dag, flops: np.ndarray, profile: DeviceProfile, out_bytes: np.ndarray | None = None,
    params: np.ndarray | None = None,
) -> float:
    """Longest input-to-output path counting compute only (no unit can beat it)."""
    shape = dag_shape(dag)
    compute = vertex_seconds(dag, flops, out_bytes, profile, params).tolist()
    longest = [0.0] * shape.n
    for v in shape.order:
        before = max((longest[u] for u in shape.preds[v]), default=0.0)
        longest[v] = before + compute[v]
    return max(longest)


def lower_bound(
    dag: Dag, flops: np.ndarray, k: int, profile: DeviceProfile, out_bytes: np.ndarray | None = None,
    params: np.ndarray | None = None,
) -> float:
    """max(critical-path compute, total compute / k): no placement on k units is faster.

    Without ``out_bytes`` (``params``) the profile's bytes (weights) term is left out,
    which keeps it a bound.
    """
    if k < 1:
        raise ParawireError(f"k: got {k}; need at least one unit")
    total = float(np.sum(vertex_seconds(dag, flops, out_bytes, profile, params)))
    return max(critical_path_s(dag, flops, profile, out_bytes, params), total / k)
