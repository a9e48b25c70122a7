"""Undirected graph → DAG by the paper's DFS rule (§3.1), plus one input and one output."""

from __future__ import annotations

import networkx as nx
import pytest
from parawire.graph.dag import dfs_discovery_order, orient, to_dag
from parawire.graph.spec import ArchitectureSpec
from parawire.pipeline.build import build_dag


def hand_made() -> nx.Graph:
    """0-2, 0-3, 1-2, 1-3 (a 4-cycle), 4-5 (a second piece), 6 isolated."""
    g = nx.empty_graph(7)
    g.add_edges_from([(1, 3), (0, 3), (2, 1), (0, 2), (5, 4)])
    return g


def test_orientation_follows_lowest_id_first_dfs():
    # By hand: DFS from 0 sees neighbours [2, 3] and goes to 2; from 2 sees [0, 1] and
    # goes to 1; from 1 sees [2, 3] and goes to 3. Discovery: 0, 2, 1, 3; then 4, 5; 6.
    assert dfs_discovery_order(hand_made()) == [0, 2, 1, 3, 4, 5, 6]
    # Each edge points from the earlier-discovered end: note 2 → 1, against the IDs
    # (RandWire's lower-ID-first rule would give 1 → 2).
    assert sorted(orient(hand_made()).edges()) == [(0, 2), (0, 3), (1, 3), (2, 1), (4, 5)]


def test_input_and_output_vertices_and_isolated_vertex():
    dag = to_dag(hand_made())
    assert (dag.input, dag.output, dag.nodes) == (7, 8, 7)
    assert dag.succs[7] == (0, 4, 6)  # every vertex without predecessors
    assert dag.preds[8] == (3, 5, 6)  # every vertex without successors
    assert dag.preds[6] == (7,) and dag.succs[6] == (8,)  # isolated: input → 6 → output
    assert dag.order[0] == 7 and dag.order[-1] == 8


def test_dfs_is_deep_not_recursive_limited():
    """A 5000-vertex path needs no recursion (networkx's limit would be hit otherwise)."""
    g = nx.path_graph(5000)
    assert list(orient(g).edges()) == [(i, i + 1) for i in range(4999)]


def check_dag(dag):
    g = dag.graph
    assert nx.is_directed_acyclic_graph(g)
    assert [v for v in g if g.in_degree(v) == 0] == [dag.input]
    assert [v for v in g if g.out_degree(v) == 0] == [dag.output]
    reachable = nx.descendants(g, dag.input) | {dag.input}
    reaching = nx.ancestors(g, dag.output) | {dag.output}
    assert reachable == reaching == set(g)


@pytest.mark.parametrize("generator", ["er", "ba", "ws", "dp", "chain", "fb"])
def test_generated_dags_have_one_source_one_sink_and_full_paths(generator):
    for seed in range(10):
        check_dag(build_dag(ArchitectureSpec(generator=generator, nodes=30, seed=seed)))


def test_disconnected_and_empty_graphs():
    check_dag(to_dag(hand_made()))
    dag = to_dag(nx.empty_graph(3))
    check_dag(dag)
    assert dag.graph.number_of_edges() == 6


def test_dag_round_trips_through_its_dict():
    dag = build_dag(ArchitectureSpec(generator="fb", nodes=20, seed=1, params={"stages": 2}))
    again = type(dag).from_dict(dag.to_dict())
    assert again.to_dict() == dag.to_dict()
    assert again.graph.nodes[10]["downsample"] is True


def test_bad_labels_and_cyclic_digraphs_are_rejected():
    with pytest.raises(ValueError, match="labelled 0..N-1"):
        to_dag(nx.relabel_nodes(nx.path_graph(3), {0: 5}))
    with pytest.raises(ValueError, match="acyclic"):
        to_dag(nx.DiGraph([(0, 1), (1, 0)]))
