"""Distance probability, the paper's new generator (§3.1, eq. 1).

Vertices sit on a ring; the distance of i and j is the ring distance
d = min(|i−j|, N−|i−j|) ("the smallest number of nodes plus one between two nodes",
so neighbours are at d = 1 and the largest distance is ⌊N/2⌋). Each pair is an edge
independently with probability min(1, α·P^(β·d)). The paper gives no defaults; ours
come from the exploration in docs/generators.md (benchmarks/explore_dp.py): they keep
the longest input→output path short while the graph stays mostly connected.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

DEFAULT_P = 0.5
DEFAULT_ALPHA = 1.0
DEFAULT_BETA = 1.0


class DpParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p: float = Field(DEFAULT_P, ge=0.0, le=1.0, description="base probability P of eq. 1")
    alpha: float = Field(DEFAULT_ALPHA, ge=0.0, le=100.0, description="scale α of eq. 1")
    beta: float = Field(DEFAULT_BETA, ge=0.0, le=100.0, description="distance exponent β of eq. 1")


def ring_distance(nodes: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The paper's ring distance between vertex arrays ``i`` and ``j``."""
    gap = np.abs(i - j)
    return np.minimum(gap, nodes - gap)


def edge_probability(params: DpParams, distance: np.ndarray) -> np.ndarray:
    """Eq. 1, clipped to a probability."""
    return np.minimum(1.0, params.alpha * params.p ** (params.beta * distance))


def generate(nodes: int, params: DpParams, rng: np.random.Generator) -> nx.Graph:
    """One coin per unordered pair, in ``triu_indices`` order."""
    graph = nx.empty_graph(nodes)
    rows, cols = np.triu_indices(nodes, k=1)
    prob = edge_probability(params, ring_distance(nodes, rows, cols).astype(float))
    keep = rng.random(rows.size) < prob
    graph.add_edges_from(zip(rows[keep].tolist(), cols[keep].tolist()))
    return graph
