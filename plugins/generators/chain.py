"""The status quo (paper §1): one single chain 0 → 1 → … → N−1."""

from __future__ import annotations

import networkx as nx
import numpy as np
from parawire.registry.records import NoParams


def generate(nodes: int, params: NoParams, rng: np.random.Generator) -> nx.Graph:
    """A path; the seed is ignored because there is nothing to draw."""
    graph = nx.empty_graph(nodes)
    graph.add_edges_from((i, i + 1) for i in range(nodes - 1))
    return graph
