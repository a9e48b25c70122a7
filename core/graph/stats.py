"""Shape statistics of a DAG: size, depth, width per depth level (paper §3.3, Fig. 5/10).

Depth is the longest input→output path counted in *vertices*, input and output
included (a chain of N computation vertices has depth N+2), the count η uses. The
depth level of a vertex is its longest distance (in edges) from the input vertex, the
"DFS depth with the source of input" of Fig. 5: the input is level 0, the output the
last level, and the vertices of one level never depend on each other, so the width of a
level is the computation that can overlap there. Figure 10's width/depth histogram is
``widths`` plotted against level. One pass over a topological order: O(V + E).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import networkx as nx
import numpy as np
from parawire.graph.dag import Dag


@dataclass(frozen=True)
class DagStats:
    """What ``parawire show`` prints and studies aggregate; plain numbers only."""

    vertices: int
    edges: int
    depth: int
    widths: tuple[int, ...]
    components: int

    @property
    def max_width(self) -> int:
        return max(self.widths)

    @property
    def mean_width(self) -> float:
        """Vertices per level: how many blocks can run side by side on average."""
        return self.vertices / self.depth

    def histogram(self) -> dict[str, list[int]]:
        """Figure 10's data: the width at each depth level."""
        return {"level": list(range(self.depth)), "width": list(self.widths)}

    def to_dict(self) -> dict:
        return {**asdict(self), "widths": list(self.widths), "max_width": self.max_width}


def depth_levels(dag: Dag) -> dict[int, int]:
    """Longest distance in edges from the input vertex, for every vertex."""
    level = dict.fromkeys(dag.graph, 0)
    for v in dag.order:
        for w in dag.graph.successors(v):
            level[w] = max(level[w], level[v] + 1)
    return level


def dag_stats(dag: Dag) -> DagStats:
    """All statistics of one DAG.

    ``components`` counts the connected pieces of the generator's graph (input and
    output left out): a DP or ER draw may fall apart, which is legal but worth seeing.
    """
    level = depth_levels(dag)
    widths = np.bincount(np.fromiter(level.values(), dtype=np.int64, count=len(level)))
    inner = dag.graph.subgraph(v for v in dag.graph if v not in (dag.input, dag.output))
    return DagStats(
        vertices=dag.graph.number_of_nodes(),
        edges=dag.graph.number_of_edges(),
        depth=int(level[dag.output]) + 1,
        widths=tuple(int(w) for w in widths),
        components=nx.number_weakly_connected_components(inner),
    )
