"""One plugin of every kind, using nothing but ``parawire.plugin`` (see README.md)."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import networkx as nx
import numpy as np
import parawire.plugin as plugin
from parawire.plugin import (
    EnginePlugin,
    GeneratorPlugin,
    PartitionerPlugin,
    ProtocolError,
    ScoreContext,
    ScorePlugin,
    SpecError,
    StagingPlugin,
    TransportPlugin,
    ZmqTransport,
    cap_stages,
    hookimpl,
)
from pydantic import BaseModel, ConfigDict, Field

PARAWIRE_API = "1.0"  # the plugin API this package is written for (parawire.plugin.API_VERSION)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- generator -------------------------------------------------------------------------------
class LanesParams(Strict):
    lanes: int = Field(3, ge=1, description="parallel chains")
    cross: float = Field(0.0, ge=0.0, le=1.0, description="probability of an edge v→v+1 across lanes")


def lanes_graph(nodes: int, rng: np.random.Generator, params: LanesParams) -> nx.DiGraph:
    """Vertex v is in lane v % lanes and feeds v + lanes; with probability ``cross`` it
    also feeds v + 1 (a neighbouring lane). Edges go from lower to higher ids: acyclic."""
    if params.lanes > nodes:
        raise SpecError(f"params[lanes].lanes: got {params.lanes}; must be at most nodes ({nodes})")
    graph = nx.DiGraph()
    graph.add_nodes_from(range(nodes))
    graph.add_edges_from((v, v + params.lanes) for v in range(nodes - params.lanes))
    coins = rng.random(nodes - 1) < params.cross
    graph.add_edges_from((v, v + 1) for v in range(nodes - 1) if coins[v] and (v + 1) % params.lanes)
    return graph


# -- staging ---------------------------------------------------------------------------------
class EveryParams(Strict):
    every: int = Field(2, ge=1, description="stage vertex v when (v + 1) % every == 0")


def every_nth(dag, spec, params: EveryParams) -> np.ndarray:
    return cap_stages(dag, spec, lambda v: (v + 1) % params.every == 0)


# -- partitioner -----------------------------------------------------------------------------
class ChunksParams(Strict):
    reverse: bool = Field(False, description="cut the topological order from its end (the output first)")


def chunks(hypergraph, k: int, eps: float, params: ChunksParams) -> np.ndarray:
    """Cut the topological order (or its reverse) into k contiguous runs of near-equal
    weight, then let parawire's repair meet the balance limit (or warn)."""
    # looked up at call time: they load numba kernels that loading the plugins should not
    plugin.check_args(hypergraph, k, eps)
    fixed = plugin.trivial_partition(hypergraph, k, eps, "chunks")
    if fixed is not None:
        return fixed
    n = hypergraph.num_vertices
    order = np.arange(n) if hypergraph.order is None else np.asarray(hypergraph.order)
    order = order[::-1] if params.reverse else order
    weights = hypergraph.vertex_weights[order].astype(np.float64)
    if weights.sum() == 0:
        weights = np.ones(n)
    before = np.cumsum(weights) - weights / 2  # weight ahead of each vertex's midpoint
    parts = np.empty(n, dtype=np.int64)
    parts[order] = np.minimum((before / weights.sum() * k).astype(np.int64), k - 1)
    return plugin.repaired(hypergraph, k, eps, parts, "chunks")


# -- score -----------------------------------------------------------------------------------
class CutParams(Strict):
    weighted: bool = Field(False, description="weight each net by its cost (bytes)")


def cut_fraction(context: ScoreContext, params: CutParams) -> float:
    hg, parts = context.hypergraph, context.partition
    cut = np.array([np.unique(parts[hg.pins(e)]).size > 1 for e in range(hg.num_nets)])
    weight = hg.net_costs.astype(np.float64) if params.weighted else np.ones(hg.num_nets)
    return float((weight * cut).sum() / weight.sum()) if weight.sum() else 0.0


# -- transport -------------------------------------------------------------------------------
class CountingParams(Strict):
    log_dir: str = Field(description="directory where each side writes its message counts")


_ids = itertools.count()


class _Counted:
    """Wraps an inbox, link or client: counts and logs every message through it."""

    def __init__(self, inner, role: str, log_dir: str) -> None:
        self.inner = inner
        self.counts = {"role": role, "pid": os.getpid(), "sent": 0, "received": 0}
        self.path = Path(log_dir) / f"{role}-{os.getpid()}-{next(_ids)}.json"

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _log(self, key: str) -> None:
        self.counts[key] += 1
        self.path.write_text(json.dumps(self.counts))

    def send(self, *args):
        sent = self.inner.send(*args)
        self._log("sent")
        return sent

    def recv(self, timeout_s):
        item = self.inner.recv(timeout_s)
        if item is not None:
            self._log("received")
        return item


class CountingTransport:
    """ZeroMQ underneath; every inbox, link and client counts its messages."""

    name = "counting"

    def __init__(self, params: CountingParams) -> None:
        self.zmq = ZmqTransport()
        self.log_dir = params.log_dir

    def bind(self, address, curve=None, max_bytes=None):
        return _Counted(self.zmq.bind(address, curve, max_bytes), "inbox", self.log_dir)

    def link(self, address, curve=None, server_key=None):
        return _Counted(self.zmq.link(address, curve, server_key), "link", self.log_dir)

    def client(self, addresses, curve=None, server_keys=()):
        return _Counted(self.zmq.client(addresses, curve, server_keys), "client", self.log_dir)

    def close(self) -> None:
        self.zmq.close()


class PickyParams(Strict):
    refuse: str = Field("bad", min_length=1, description="drop every message whose first frame starts with this")


class _PickyInbox:
    """An inbox that refuses messages by a rule of its own, the way a transport with its
    own framing or authentication would: by raising ProtocolError, which the worker
    counts and logs as one dropped message before it goes on serving."""

    def __init__(self, inner, refuse: bytes) -> None:
        self.inner, self.refuse = inner, refuse

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def recv(self, timeout_s):
        item = self.inner.recv(timeout_s)
        if item is not None and bytes(item[1][0]).startswith(self.refuse):
            raise ProtocolError(f"first frame starts with {self.refuse.decode()!r}; refused")
        return item


class PickyTransport(ZmqTransport):
    """ZeroMQ (inherited: links, clients, close); a worker's inbox refuses messages
    starting with ``refuse``."""

    name = "picky"

    def __init__(self, params: PickyParams) -> None:
        super().__init__()
        self.refuse = params.refuse.encode()

    def bind(self, address, curve=None, max_bytes=None):
        return _PickyInbox(super().bind(address, curve, max_bytes), self.refuse)


# -- engine ----------------------------------------------------------------------------------
class LoggedParams(Strict):
    log_dir: str = Field(description="directory where each compile and whole writes what it was given")
    channels_last: bool = Field(False, description="convert the network to channels-last first")


def _logged(params: LoggedParams, call: str, **given) -> None:
    path = Path(params.log_dir) / f"{call}-{os.getpid()}-{next(_ids)}.json"
    path.write_text(json.dumps({"call": call, "pid": os.getpid(), "params": params.model_dump(), **given}))


def _layout(net, params: LoggedParams):
    if params.channels_last:
        import torch

        return net.to(memory_format=torch.channels_last)
    return net


def logged_compile(net, vertices, params: LoggedParams) -> dict:
    """Each vertex's own torch block; logs the vertices and parameters it was given."""
    _logged(params, "compile", vertices=[int(v) for v in vertices])
    net = _layout(net, params)
    return {v: net.blocks[str(v)] for v in vertices}


def logged_whole(net, params: LoggedParams):
    _logged(params, "whole")
    return _layout(net, params)


@hookimpl
def parawire_engines():
    return [EnginePlugin(name="logged", summary="torch blocks, logging what compile receives",
                         params=LoggedParams, compile=logged_compile, whole=logged_whole)]


@hookimpl
def parawire_generators():
    return [GeneratorPlugin(name="lanes", summary="parallel chains", params=LanesParams, generate=lanes_graph)]


@hookimpl
def parawire_staging_policies():
    return [StagingPlugin(name="every", summary="stage every n-th vertex", params=EveryParams, assign=every_nth)]


@hookimpl
def parawire_partitioners():
    return [PartitionerPlugin(name="chunks", summary="contiguous topological chunks", params=ChunksParams,
                              partition=chunks)]


@hookimpl
def parawire_scores():
    return [ScorePlugin(name="cutfrac", summary="fraction of nets cut", params=CutParams, score=cut_fraction)]


@hookimpl
def parawire_transports():
    return [TransportPlugin(name="counting", summary="zmq, counting messages into log_dir",
                            params=CountingParams, factory=CountingTransport),
            TransportPlugin(name="picky", summary="zmq, refusing messages that start with a marker",
                            params=PickyParams, factory=PickyTransport)]
