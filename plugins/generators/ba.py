"""Barabási–Albert as the paper states it (§3.1, "degree probability").

Start from M *disconnected* vertices; every later vertex up to N attaches M distinct
edges to existing vertices chosen with probability proportional to their degree
(uniformly while all degrees are zero, i.e. for vertex M, which therefore joins all M
seeds). That gives exactly M(N−M) edges. networkx's ``barabasi_albert_graph`` starts
from a star since 2.6, so the same seed gave different graphs across versions: we
implement the rule ourselves, with our own draws.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from parawire.errors import SpecError
from pydantic import BaseModel, ConfigDict, Field

#: RandWire's BA setting, the paper's baseline.
DEFAULT_M = 5


class BaParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    m: int = Field(DEFAULT_M, ge=1, le=1000, description="edges each new vertex adds (< nodes)")


def weighted_distinct(weights: np.ndarray, m: int, rng: np.random.Generator) -> list[int]:
    """``m`` distinct indices, drawn one at a time proportionally to ``weights``.

    Sequential draws without replacement (each pick's weight is zeroed); all-zero
    weights fall back to uniform. Written out so the stream does not depend on how a
    numpy version implements ``choice(replace=False, p=...)``.
    """
    w = weights.astype(float)
    if not w.any():
        w = np.ones_like(w)
    picked: list[int] = []
    for _ in range(m):
        cdf = np.cumsum(w)
        i = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
        i = min(i, w.size - 1)
        picked.append(i)
        w[i] = 0.0
    return picked


def generate(nodes: int, params: BaParams, rng: np.random.Generator) -> nx.Graph:
    m = params.m
    if m >= nodes:
        raise SpecError(f"params[ba].m: got {m}; must be less than nodes ({nodes})")
    graph = nx.empty_graph(nodes)
    degree = np.zeros(nodes, dtype=np.int64)
    for v in range(m, nodes):
        targets = weighted_distinct(degree[:v], m, rng)
        graph.add_edges_from((v, t) for t in targets)
        degree[targets] += 1
        degree[v] = m
    return graph
