"""From a generator's graph to the DAG of an architecture (paper §3.1).

The orientation rule is the paper's: a depth-first search that always visits the lower
vertex ID first; every edge points from the vertex the search reaches first to the one
it reaches later. Discovery order is a total order, so the result is acyclic, and it is
also a topological order. Disconnected graphs restart the search at the lowest
unvisited ID. We implement the search here rather than call networkx, whose traversal
order is an implementation detail.

Labels: generator vertices keep their IDs ``0..N-1``; the input vertex is ``N`` and the
output vertex ``N+1`` (``N`` = ``spec.nodes``, which never counts input/output). The
input feeds every vertex without predecessors, the output is fed by every vertex
without successors, so isolated vertices become ``input → v → output``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import networkx as nx


def dfs_discovery_order(graph: nx.Graph) -> list[int]:
    """Vertices in the order a lowest-ID-first recursive DFS discovers them."""
    seen: set[int] = set()
    order: list[int] = []
    neighbours = {v: sorted(graph.adj[v]) for v in graph}
    for root in sorted(graph):
        if root in seen:
            continue
        seen.add(root)
        order.append(root)
        stack = [iter(neighbours[root])]
        while stack:
            for w in stack[-1]:
                if w not in seen:
                    seen.add(w)
                    order.append(w)
                    stack.append(iter(neighbours[w]))
                    break
            else:
                stack.pop()
    return order


def orient(graph: nx.Graph) -> nx.DiGraph:
    """Orient every edge from the earlier- to the later-discovered endpoint."""
    rank = {v: i for i, v in enumerate(dfs_discovery_order(graph))}
    directed = nx.DiGraph()
    directed.add_nodes_from(graph.nodes(data=True))
    for u, v in graph.edges():
        directed.add_edge(*((u, v) if rank[u] < rank[v] else (v, u)))
    return directed


@dataclass(frozen=True, eq=False)
class Dag:
    """An architecture's DAG: one input vertex, one output vertex, acyclic.

    ``graph`` may carry vertex attributes from the generator (``fb`` marks its stages
    with ``stage`` and its merge/downsample points with ``downsample``).
    """

    graph: nx.DiGraph
    input: int
    output: int

    @property
    def nodes(self) -> int:
        """Computation vertices (``spec.nodes``); the DAG has two more."""
        return self.graph.number_of_nodes() - 2

    @cached_property
    def order(self) -> tuple[int, ...]:
        """A deterministic topological order (input first, output last)."""
        return tuple(nx.lexicographical_topological_sort(self.graph))

    @cached_property
    def preds(self) -> dict[int, tuple[int, ...]]:
        """Sorted predecessors of every vertex."""
        return {v: tuple(sorted(self.graph.predecessors(v))) for v in self.graph}

    @cached_property
    def succs(self) -> dict[int, tuple[int, ...]]:
        """Sorted successors of every vertex."""
        return {v: tuple(sorted(self.graph.successors(v))) for v in self.graph}

    def to_dict(self) -> dict:
        """Plain JSON-able form (edges and vertex attributes), never a pickle."""
        return {
            "input": self.input,
            "output": self.output,
            "nodes": [[v, dict(a)] for v, a in sorted(self.graph.nodes(data=True))],
            "edges": sorted([u, v] for u, v in self.graph.edges()),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Dag:
        g = nx.DiGraph()
        g.add_nodes_from((v, a) for v, a in data["nodes"])
        g.add_edges_from(tuple(e) for e in data["edges"])
        return cls(g, data["input"], data["output"])


def to_dag(graph: nx.Graph | nx.DiGraph) -> Dag:
    """Orient (unless already directed) and add the single input and output vertex."""
    n = graph.number_of_nodes()
    if sorted(graph) != list(range(n)):
        raise ValueError("generator vertices must be labelled 0..N-1")
    if graph.is_directed():
        if not nx.is_directed_acyclic_graph(graph):
            raise ValueError("a directed generator graph must be acyclic")
        directed = nx.DiGraph(graph)
    else:
        directed = orient(graph)
    source, sink = n, n + 1
    starts = [v for v in range(n) if directed.in_degree(v) == 0]
    ends = [v for v in range(n) if directed.out_degree(v) == 0]
    directed.add_node(source, role="input")
    directed.add_node(sink, role="output")
    directed.add_edges_from((source, v) for v in starts)
    directed.add_edges_from((v, sink) for v in ends)
    return Dag(directed, source, sink)
