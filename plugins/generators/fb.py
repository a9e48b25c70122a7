"""RandWire (Xie et al. 2019), the paper's FB baseline: stages of random graphs in a chain.

``nodes`` counts every vertex, merge vertices included: S stages need S−1 merge
vertices, and the other ``nodes − (S−1)`` are split as evenly as possible over the
stages (earlier stages get the extra ones). Each stage is a Watts–Strogatz graph
(RandWire's K=4, P=0.75) oriented by the paper's DFS rule (``parawire.graph.dag.orient``) and
relabelled in its DFS discovery order, so every edge of the result goes from a lower to
a higher label. Between stage s and s+1 one merge vertex receives every sink of stage s
and feeds every source of stage s+1: that is the synchronisation point the paper
blames for the single chain (§2).

Vertex attributes: ``stage`` (int) on every vertex; ``downsample=True`` on merge
vertices only. A merge vertex belongs to the stage it opens (``stage = s+1``): it
gathers at stage s's resolution and its output is at stage s+1's, as RandWire's
strided stage input. The staging step reads these marks instead of a staging policy.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from parawire.errors import SpecError
from parawire.graph.dag import dfs_discovery_order, orient
from parawire.plugins.generators import ws
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_STAGES = 3


class FbParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stages: int = Field(DEFAULT_STAGES, ge=1, le=64, description="random-graph stages")
    k: ws.EvenK = Field(ws.DEFAULT_K, description="WS ring neighbours per stage (even)")
    p: float = Field(ws.DEFAULT_P, ge=0.0, le=1.0, description="WS rewiring probability")


def stage_sizes(nodes: int, stages: int) -> list[int]:
    """Computation vertices per stage: ``nodes − (stages−1)`` split evenly."""
    rest = nodes - (stages - 1)
    q, r = divmod(rest, stages)
    return [q + 1 if s < r else q for s in range(stages)]


def generate(nodes: int, params: FbParams, rng: np.random.Generator) -> nx.DiGraph:
    sizes = stage_sizes(nodes, params.stages)
    smallest = params.k + 1
    if min(sizes) < smallest:
        need = params.stages * smallest + params.stages - 1
        raise SpecError(
            f"nodes: got {nodes}; fb with {params.stages} stages of WS(k={params.k})"
            f" needs at least {need} (or fewer stages)"
        )
    stage_params = ws.WsParams(k=params.k, p=params.p)
    graph = nx.DiGraph()
    previous_sinks: list[int] = []
    offset = 0
    for s, size in enumerate(sizes):
        if s > 0:  # the merge vertex that opens stage s
            merge = offset
            graph.add_node(merge, stage=s, downsample=True)
            graph.add_edges_from((u, merge) for u in previous_sinks)
            offset += 1
        undirected = ws.generate(size, stage_params, rng)
        directed = orient(undirected)
        label = {v: offset + i for i, v in enumerate(dfs_discovery_order(undirected))}
        graph.add_nodes_from((v, {"stage": s, "downsample": False}) for v in sorted(label.values()))
        graph.add_edges_from((label[u], label[v]) for u, v in directed.edges())
        if s > 0:
            sources = [label[v] for v in directed if directed.in_degree(v) == 0]
            graph.add_edges_from((merge, v) for v in sources)
        previous_sinks = [label[v] for v in directed if directed.out_degree(v) == 0]
        offset += size
    return graph
