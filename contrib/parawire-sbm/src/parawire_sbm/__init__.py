"""A stochastic block model generator, shipped as a third-party parawire plugin.

The N vertices are cut into ``blocks`` contiguous groups of near-equal size (earlier
groups get the extra vertex). A pair inside one group is an edge with ``p_in``, a pair
across groups with ``p_out``: dense groups, sparse links between them, so the DFS
orientation turns each group into a short local DAG and the groups can run side by side.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
from parawire.plugin import GeneratorPlugin, SpecError, hookimpl
from pydantic import BaseModel, ConfigDict, Field


class SbmParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blocks: int = Field(4, ge=1, le=1000, description="number of groups (≤ nodes)")
    p_in: float = Field(0.3, ge=0.0, le=1.0, description="edge probability inside a group")
    p_out: float = Field(0.01, ge=0.0, le=1.0, description="edge probability across groups")


def block_of(nodes: int, blocks: int) -> np.ndarray:
    """Group index of every vertex: contiguous, sizes differ by at most one."""
    q, r = divmod(nodes, blocks)
    sizes = [q + 1 if b < r else q for b in range(blocks)]
    return np.repeat(np.arange(blocks), sizes)


def generate(nodes: int, params: SbmParams, rng: np.random.Generator) -> nx.Graph:
    if params.blocks > nodes:
        raise SpecError(f"params[sbm].blocks: got {params.blocks}; must be at most nodes ({nodes})")
    block = block_of(nodes, params.blocks)
    rows, cols = np.triu_indices(nodes, k=1)
    prob = np.where(block[rows] == block[cols], params.p_in, params.p_out)
    keep = rng.random(rows.size) < prob
    graph = nx.empty_graph(nodes)
    graph.add_edges_from(zip(rows[keep].tolist(), cols[keep].tolist()))
    return graph


@hookimpl
def parawire_generators():
    return [
        GeneratorPlugin(
            "sbm", "stochastic block model: dense groups, sparse links", SbmParams, generate
        )
    ]
