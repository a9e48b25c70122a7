"""The hypergraph of an architecture (paper §3.3): what the partitioners cut.

A DAG edge list over-counts communication: a vertex whose output feeds three vertices
on another unit sends that tensor once, not three times. One *net* per vertex
``v`` = ``{v} ∪ succ(v)`` with cost ``out_bytes[v]`` captures exactly that: the net's
connectivity λ (units it touches) minus one is the number of extra units ``v``'s output
travels to, so Λ = Σ cost·(λ−1) (eq. 3) is the bytes a run sends.

Storage is compressed sparse rows (numpy), never a Python object per pin: ``net_ptr``/
``net_pins`` list each net's pins, ``vertex_ptr``/``vertex_nets`` the transposed
incidence. Nets of size one (the output vertex, a vertex feeding nothing) can never be
cut and are dropped. Zero vertex weights are legal (the input/output vertices may do no
arithmetic); partitioners must cope with them.

**Input policy** (what the input net costs). ``"stem"``: the stem (input vertex) runs on
one unit and its output crosses to every other unit holding one of its successors, so the
input net is ``{input} ∪ succ(input)`` at the stem's output bytes, like any other net.
``"scatter"`` (the paper's "the first node is common to all units", Figure 11): the
coordinator sends the raw image to every unit holding a successor of the stem and each
of them runs the stem itself. The input net is then ``succ(input)`` at the *image's*
bytes: λ − 1 counts the copies of the image beyond the one every run needs, and the input
vertex, replicated wherever it is needed, has no pin and weight 0 (where the partitioner
puts it does not matter). Λ then equals the bytes the executor's workers send each other
plus the extra image copies the coordinator sends, under both policies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from parawire.errors import ParawireError
from parawire.graph.dag import Dag
from parawire.latency.model import vertex_seconds
from parawire.latency.wire import Wire, wire_or_raw
from parawire.network.cost import FLOAT32_BYTES

INPUT_POLICIES = ("stem", "scatter")


def _csr(lists: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    sizes = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    ptr = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum(sizes, out=ptr[1:])
    flat = np.fromiter((p for x in lists for p in x), dtype=np.int64, count=int(ptr[-1]))
    return ptr, flat


@dataclass(frozen=True, eq=False)
class Hypergraph:
    """Weighted hypergraph in CSR form.

    Two optional fields remember the DAG a hypergraph came from (``None`` for one built
    from bare arrays): ``order``, a topological order of the vertices (partitioners seed
    contiguous, pipeline-like partitions with it), and ``net_sources``, the vertex whose
    output each net carries (so the DAG edges source → other pins can be recovered, as
    the paper's greedy grouping needs).
    """

    vertex_weights: np.ndarray
    net_costs: np.ndarray
    net_ptr: np.ndarray
    net_pins: np.ndarray
    vertex_ptr: np.ndarray
    vertex_nets: np.ndarray
    order: np.ndarray | None = None
    net_sources: np.ndarray | None = None

    @property
    def num_vertices(self) -> int:
        return int(self.vertex_weights.shape[0])

    @property
    def num_nets(self) -> int:
        return int(self.net_costs.shape[0])

    @property
    def total_weight(self) -> int:
        return int(self.vertex_weights.sum())

    @property
    def net_sizes(self) -> np.ndarray:
        return np.diff(self.net_ptr)

    def pins(self, net: int) -> np.ndarray:
        return self.net_pins[self.net_ptr[net] : self.net_ptr[net + 1]]

    def nets_of(self, vertex: int) -> np.ndarray:
        return self.vertex_nets[self.vertex_ptr[vertex] : self.vertex_ptr[vertex + 1]]

    def pin_nets(self) -> np.ndarray:
        """The net of every entry of ``net_pins`` (for vectorised per-pin work)."""
        return np.repeat(np.arange(self.num_nets), self.net_sizes)

    @classmethod
    def from_arrays(
        cls,
        num_vertices: int,
        vertex_weights: Sequence[int] | np.ndarray,
        nets: Sequence[Sequence[int]],
        net_costs: Sequence[int] | np.ndarray,
        order: Sequence[int] | np.ndarray | None = None,
        net_sources: Sequence[int] | np.ndarray | None = None,
    ) -> Hypergraph:
        """Validate and pack. Duplicate pins within a net are merged; nets with fewer
        than two distinct pins are dropped (they can never be cut)."""
        weights = np.asarray(vertex_weights, dtype=np.int64)
        costs = np.asarray(net_costs, dtype=np.int64)
        if weights.shape != (num_vertices,):
            raise ParawireError(
                f"vertex_weights: got {weights.shape[0] if weights.ndim else 0} values for"
                f" {num_vertices} vertices; give one weight per vertex"
            )
        if (weights < 0).any():
            raise ParawireError(
                f"vertex_weights: got {int(weights.min())}; weights must be ≥ 0"
            )
        if costs.shape != (len(nets),):
            raise ParawireError(
                f"net_costs: got {costs.size} costs for {len(nets)} nets; give one cost per net"
            )
        if (costs < 0).any():
            raise ParawireError(f"net_costs: got {int(costs.min())}; costs must be ≥ 0")
        kept_nets: list[list[int]] = []
        kept_costs: list[int] = []
        kept_sources: list[int] = []
        sources = [-1] * len(nets) if net_sources is None else [int(x) for x in net_sources]
        for net, cost, source in zip(nets, costs.tolist(), sources):
            pins = sorted({int(p) for p in net})
            if pins and (pins[0] < 0 or pins[-1] >= num_vertices):
                raise ParawireError(
                    f"nets: pin {pins[0] if pins[0] < 0 else pins[-1]} is not a vertex"
                    f" 0..{num_vertices - 1}"
                )
            if len(pins) >= 2:
                kept_nets.append(pins)
                kept_costs.append(cost)
                kept_sources.append(source)
        net_ptr, net_pins = _csr(kept_nets)
        incident: list[list[int]] = [[] for _ in range(num_vertices)]
        for e, pins in enumerate(kept_nets):
            for p in pins:
                incident[p].append(e)
        vertex_ptr, vertex_nets = _csr(incident)
        topo = None if order is None else np.asarray(order, dtype=np.int64)
        if topo is not None and sorted(topo.tolist()) != list(range(num_vertices)):
            raise ParawireError("order: must be a permutation of the vertices 0..n-1")
        return cls(
            weights,
            np.asarray(kept_costs, dtype=np.int64),
            net_ptr,
            net_pins,
            vertex_ptr,
            vertex_nets,
            topo,
            None if net_sources is None else np.asarray(kept_sources, dtype=np.int64),
        )

    @classmethod
    def from_dag(
        cls, dag: Dag, vertex_weights: np.ndarray, out_bytes: np.ndarray,
        scatter_bytes: int | None = None,
    ) -> Hypergraph:
        """One vertex per DAG vertex, one net ``{v} ∪ succ(v)`` of cost ``out_bytes[v]``.

        ``scatter_bytes`` (the image's bytes) selects the ``"scatter"`` input policy
        (module docstring): the input net becomes ``succ(input)`` at that cost and the
        input vertex weighs 0."""
        n = dag.graph.number_of_nodes()
        if sorted(dag.graph) != list(range(n)):
            raise ParawireError("dag: vertices must be labelled 0..|V|-1")
        nets = [[v, *dag.succs[v]] for v in range(n)]
        costs = np.asarray(out_bytes, dtype=np.int64)
        if costs.shape != (n,):
            raise ParawireError(f"out_bytes: got {costs.size} values for {n} DAG vertices")
        weights = vertex_weights
        if scatter_bytes is not None:
            nets[dag.input] = list(dag.succs[dag.input])
            costs = costs.copy()
            costs[dag.input] = scatter_bytes
            weights = np.array(vertex_weights, dtype=np.int64)
            weights[dag.input] = 0
        return cls.from_arrays(
            n, weights, nets, costs, order=dag.order, net_sources=range(n)
        )


def check_input_policy(input_policy: str) -> str:
    if input_policy not in INPUT_POLICIES:
        raise ParawireError(f"input policy: got {input_policy!r}; use one of {', '.join(INPUT_POLICIES)}")
    return input_policy


def image_bytes(arch: Any) -> int:
    """Bytes of one float32 input image of ``arch`` (what the coordinator sends a unit)."""
    return int(np.prod(arch.spec.input_shape)) * FLOAT32_BYTES


def scatter_bytes(arch: Any, input_policy: str) -> int | None:
    """The ``scatter_bytes`` argument of :meth:`Hypergraph.from_dag` for a policy."""
    return image_bytes(arch) if check_input_policy(input_policy) == "scatter" else None


def hypergraph_of(
    arch: Any, input_policy: str = "stem", profile: Any = None, free: Sequence[int] = (), wire: Wire | None = None,
) -> Hypergraph:
    """The hypergraph of an :class:`parawire.network.architecture.Architecture`: weight = FLOPs
    (the paper's, what the score uses), or with a :class:`~parawire.latency.model.DeviceProfile`
    the predicted nanoseconds of each vertex on one of its units. Net costs are the bytes
    one crossing sends: ``wire.bytes`` under the plan's codecs (:mod:`parawire.latency.wire`),
    float32 ``out_bytes`` without; so Λ, Λ′, CS and every partitioner count encoded bytes.

    Why both: the score compares architectures as the paper does, but a placement that
    will *run* must balance time, and time is not proportional to FLOPs: a wide 1×1
    convolution on a 2×2 map is 4 M MACs and 4 MB of weights, and with ONNX Runtime it
    takes as long as a 40 M-MAC convolution on a 32×32 map.

    ``free`` vertices weigh nothing: they run elsewhere (a hybrid placement's tiled
    prefix, :mod:`parawire.network.halo`), so only the rest is balanced."""
    weights = arch.costs.flops
    if profile is not None:
        seconds = vertex_seconds(arch.dag, arch.costs.flops, arch.costs.out_bytes, profile, arch.costs.params)
        weights = np.maximum(np.rint(seconds * 1e9), 1).astype(np.int64)
    if len(free):
        weights = np.array(weights, dtype=np.int64)
        weights[list(free)] = 0
    return Hypergraph.from_dag(arch.dag, weights, wire_or_raw(wire, arch.costs.out_bytes).bytes,
                               scatter_bytes=scatter_bytes(arch, input_policy))
