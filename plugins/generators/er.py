"""Erdős–Rényi (paper §3.1, "independent probability"): every pair is an edge with P."""

from __future__ import annotations

import networkx as nx
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

#: RandWire's ER setting, the paper's baseline.
DEFAULT_P = 0.2


class ErParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p: float = Field(DEFAULT_P, ge=0.0, le=1.0, description="probability of each edge")


def generate(nodes: int, params: ErParams, rng: np.random.Generator) -> nx.Graph:
    """One coin per unordered pair, drawn in ``triu_indices`` order (fixed by the seed)."""
    graph = nx.empty_graph(nodes)
    rows, cols = np.triu_indices(nodes, k=1)
    keep = rng.random(rows.size) < params.p
    graph.add_edges_from(zip(rows[keep].tolist(), cols[keep].tolist()))
    return graph
