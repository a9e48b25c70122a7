"""A hand-made stand-in network for the executor tests: elementwise blocks on a small DAG.

The executor only needs ``{vertex: block(inputs) -> tensor}``; these blocks are cheap and
distinct per vertex (so a wrong wiring changes the output), and keep the input's shape,
so every vertex's output has ``x.numel()`` floats and Λ is easy to compute by hand.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import torch
from parawire.graph.dag import Dag, to_dag


def toy_dag() -> Dag:
    """8 generator vertices, two parallel branches that meet, plus input and output."""
    g = nx.DiGraph()
    g.add_nodes_from(range(8))
    g.add_edges_from([(0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 5), (4, 6), (1, 7), (6, 7)])
    return to_dag(g)


def toy_block(v: int):
    scale, shift = 0.5 + 0.1 * v, 0.01 * v

    def block(inputs: list[torch.Tensor]) -> torch.Tensor:
        return torch.tanh(torch.stack(inputs).sum(0) * scale + shift)

    return block


def toy_builder(spec: dict, unit_plan, weights=None) -> dict:
    return {v: toy_block(v) for v in unit_plan.vertices}


def toy_reference(dag: Dag, x: torch.Tensor) -> torch.Tensor:
    values = {}
    for v in dag.order:
        values[v] = toy_block(v)([values[p] for p in dag.preds[v]] or [x])
    return values[dag.output]


def toy_out_bytes(dag: Dag, x: torch.Tensor) -> np.ndarray:
    return np.full(dag.graph.number_of_nodes(), x.numel() * x.element_size(), dtype=np.int64)


TOY_SPEC = {"toy": True}
