"""Watts–Strogatz small world (paper §3.1, "enforced grouping").

Ring lattice: vertex i is joined to its K/2 neighbours on each side. Rewiring follows
Watts & Strogatz (1998): K/2 laps; in lap j we go clockwise around the ring and, with
probability P, move the edge (i, i+j) to (i, w), w uniform over the vertices that are
neither i nor already adjacent to i (no self-loops, no duplicate edges). A vertex that
is adjacent to every other keeps its edge. The number of edges stays N·K/2.
"""

from __future__ import annotations

from typing import Annotated

import networkx as nx
import numpy as np
from parawire.errors import SpecError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

#: RandWire's WS setting, the paper's baseline.
DEFAULT_K = 4
DEFAULT_P = 0.75


def _even(k: int) -> int:
    if k % 2:
        raise ValueError("must be even (K/2 neighbours on each side)")
    return k


#: K of a ring lattice; shared with ``fb``, whose stages are WS graphs.
EvenK = Annotated[int, Field(ge=2, le=1000), AfterValidator(_even)]


class WsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: EvenK = Field(DEFAULT_K, description="ring neighbours (even, < nodes)")
    p: float = Field(DEFAULT_P, ge=0.0, le=1.0, description="rewiring probability per edge")


def ring_lattice(nodes: int, k: int) -> nx.Graph:
    """Each vertex joined to its k/2 nearest neighbours on both sides."""
    graph = nx.empty_graph(nodes)
    graph.add_edges_from((i, (i + j) % nodes) for j in range(1, k // 2 + 1) for i in range(nodes))
    return graph


def generate(nodes: int, params: WsParams, rng: np.random.Generator) -> nx.Graph:
    k, p = params.k, params.p
    if k >= nodes:
        raise SpecError(f"params[ws].k: got {k}; must be less than nodes ({nodes})")
    graph = ring_lattice(nodes, k)
    for j in range(1, k // 2 + 1):
        for i in range(nodes):
            if rng.random() >= p:
                continue
            old = (i + j) % nodes
            if not graph.has_edge(i, old) or graph.degree(i) >= nodes - 1:
                continue
            while True:  # rejection sampling: uniform over the allowed vertices
                w = int(rng.integers(nodes))
                if w != i and not graph.has_edge(i, w):
                    break
            graph.remove_edge(i, old)
            graph.add_edge(i, w)
    return graph
