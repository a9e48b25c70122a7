"""Depth, width per level and Figure 10's data of a DAG."""

from __future__ import annotations

import networkx as nx
from parawire.graph.dag import to_dag
from parawire.graph.spec import ArchitectureSpec
from parawire.graph.stats import dag_stats, depth_levels
from parawire.pipeline.build import build_dag


def test_chain_depth_counts_input_and_output():
    s = dag_stats(build_dag(ArchitectureSpec(generator="chain", nodes=10)))
    assert (s.vertices, s.edges, s.depth, s.max_width, s.components) == (12, 11, 12, 1, 1)
    assert s.widths == (1,) * 12


def test_levels_are_longest_distances_from_the_input():
    # 0 → 1 → 2 and 0 → 2 (a shortcut), plus isolated 3; input 4, output 5.
    g = nx.DiGraph([(0, 1), (1, 2), (0, 2)])
    g.add_node(3)
    dag = to_dag(g)
    assert depth_levels(dag) == {4: 0, 0: 1, 3: 1, 1: 2, 2: 3, 5: 4}
    s = dag_stats(dag)
    assert s.depth == 5 and s.widths == (1, 2, 1, 1, 1) and s.components == 2
    assert s.histogram() == {"level": [0, 1, 2, 3, 4], "width": [1, 2, 1, 1, 1]}
    assert s.to_dict() == {
        "vertices": 6,
        "edges": 7,
        "depth": 5,
        "widths": [1, 2, 1, 1, 1],
        "components": 2,
        "max_width": 2,
    }
    assert s.mean_width == 6 / 5


def test_widths_sum_to_vertices_and_depth_is_the_longest_path():
    for gen in ("er", "dp", "fb"):
        dag = build_dag(ArchitectureSpec(generator=gen, nodes=40, seed=3))
        s = dag_stats(dag)
        assert sum(s.widths) == s.vertices == 42
        assert s.depth == len(nx.dag_longest_path(dag.graph))
        assert s.widths[0] == s.widths[-1] == 1  # input alone, output alone


def test_isolated_vertices_make_one_wide_level():
    s = dag_stats(to_dag(nx.empty_graph(5)))
    assert s.depth == 3 and s.widths == (1, 5, 1) and s.components == 5
