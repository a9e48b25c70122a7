"""The built-in generators follow the paper's rules; one seed fixes the result."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from parawire.errors import SpecError
from parawire.graph.seeds import rng
from parawire.graph.spec import ArchitectureSpec, resolve_params
from parawire.pipeline.build import build_dag
from parawire.plugins.generators import ba, chain, dp, er, fb, ws
from parawire.registry.manager import get_plugins

SEEDS = range(200)


def draw(module, nodes, seed, **params):
    model = {er: er.ErParams, ba: ba.BaParams, ws: ws.WsParams, dp: dp.DpParams, fb: fb.FbParams}
    return module.generate(nodes, model[module](**params), rng(seed, "graph"))


def test_every_builtin_is_registered_with_a_params_model():
    names = get_plugins().generators.names()
    assert {"er", "ba", "ws", "dp", "chain", "fb"} <= set(names)
    for name in ("er", "ba", "ws", "dp", "fb"):
        with pytest.raises(SpecError, match=rf"params\[{name}\]\.bogus"):
            resolve_params(
                get_plugins().generators.get(name).params, {"bogus": 1}, f"params[{name}]"
            )


def test_er_edge_count_matches_binomial():
    n, p = 40, 0.2
    counts = np.array([draw(er, n, s, p=p).number_of_edges() for s in SEEDS])
    pairs = n * (n - 1) / 2
    mean, sd = p * pairs, np.sqrt(pairs * p * (1 - p))
    assert abs(counts.mean() - mean) < 4 * sd / np.sqrt(len(counts))
    assert abs(counts.std() - sd) < 0.2 * sd
    assert np.all(np.abs(counts - mean) < 6 * sd)


@pytest.mark.parametrize("n,m", [(40, 5), (12, 1), (30, 29)])
def test_ba_has_exactly_m_times_n_minus_m_edges(n, m):
    for s in range(20):
        g = draw(ba, n, s, m=m)
        assert g.number_of_edges() == m * (n - m)
        # the m seeds are joined only to later vertices, vertex m joins all of them
        assert set(g.adj[m]) >= set(range(m))
        assert all(max(g.adj[v]) >= m for v in range(m))


def test_ba_prefers_high_degree():
    """Vertex m is joined to every seed first, so it stays the hub more often than not."""
    hubs = [
        max(dict(draw(ba, 40, s, m=2).degree()).items(), key=lambda kv: kv[1])[0] for s in SEEDS
    ]
    assert np.mean(np.array(hubs) < 6) > 0.8


def test_ba_rejects_m_not_below_nodes():
    with pytest.raises(SpecError, match=r"params\[ba\]\.m: got 10; must be less than nodes \(10\)"):
        draw(ba, 10, 0, m=10)


@pytest.mark.parametrize("n,k", [(40, 4), (11, 2), (9, 8)])
def test_ws_without_rewiring_is_the_ring_lattice(n, k):
    g = draw(ws, n, 3, k=k, p=0.0)
    expected = {frozenset((i, (i + j) % n)) for i in range(n) for j in range(1, k // 2 + 1)}
    assert {frozenset(e) for e in g.edges()} == expected
    assert all(d == k for _, d in g.degree())


def test_ws_rewiring_keeps_edge_count_and_moves_edges():
    lattice = {frozenset(e) for e in ws.ring_lattice(40, 4).edges()}
    moved = []
    for s in range(50):
        g = draw(ws, 40, s, k=4, p=0.75)
        assert g.number_of_edges() == 80 and nx.number_of_selfloops(g) == 0
        moved.append(len({frozenset(e) for e in g.edges()} - lattice))
    # each of the 80 edges moves with p=0.75 unless its new end is taken: ~60 moved
    assert 50 < np.mean(moved) < 62


@pytest.mark.parametrize(
    "params,msg", [({"k": 3}, "must be even"), ({"p": 1.5}, "less than or equal to 1")]
)
def test_ws_params_are_validated(params, msg):
    with pytest.raises(SpecError, match=rf"params\[ws\]\.\w+: got .*{msg}"):
        resolve_params(ws.WsParams, params, "params[ws]")


def test_ws_rejects_k_not_below_nodes():
    with pytest.raises(SpecError, match=r"params\[ws\]\.k: got 6; must be less than nodes \(6\)"):
        draw(ws, 6, 0, k=6)


def test_dp_ring_distance_is_the_papers():
    i = np.array([0, 0, 0, 3, 9])
    j = np.array([1, 5, 9, 7, 0])
    assert dp.ring_distance(10, i, j).tolist() == [1, 5, 1, 4, 1]


@pytest.mark.parametrize("p,alpha,beta", [(0.5, 1.0, 1.0), (0.8, 0.9, 0.5), (0.6, 2.0, 1.5)])
def test_dp_edge_probability_per_distance_follows_eq1(p, alpha, beta):
    n, seeds = 30, 300
    params = dp.DpParams(p=p, alpha=alpha, beta=beta)
    rows, cols = np.triu_indices(n, k=1)
    dist = dp.ring_distance(n, rows, cols)
    hits = np.zeros(n // 2 + 1)
    for s in range(seeds):
        adj = nx.to_numpy_array(dp.generate(n, params, rng(s, "graph")), nodelist=range(n))
        np.add.at(hits, dist, adj[rows, cols])
    trials = np.bincount(dist, minlength=n // 2 + 1) * seeds
    for d in range(1, n // 2 + 1):
        want = min(1.0, alpha * p ** (beta * d))
        sd = np.sqrt(want * (1 - want) / trials[d])
        assert abs(hits[d] / trials[d] - want) <= 5 * sd + 1e-12, (d, hits[d] / trials[d], want)


@pytest.mark.parametrize("name", ["er", "ba", "ws", "dp", "fb"])
def test_same_seed_same_graph_and_dag_other_seed_other_graph(name):
    spec = ArchitectureSpec(generator=name, nodes=40, seed=7)
    a, b = build_dag(spec), build_dag(spec)
    assert a.to_dict() == b.to_dict()
    others = {str(build_dag(spec.model_copy(update={"seed": s})).to_dict()) for s in range(8, 13)}
    assert str(a.to_dict()) not in others and len(others) == 5


def test_chain_is_one_path():
    g = chain.generate(5, None, rng(0, "graph"))
    assert sorted(g.edges()) == [(0, 1), (1, 2), (2, 3), (3, 4)]


def test_fb_stage_sizes_count_merge_vertices():
    assert fb.stage_sizes(40, 3) == [13, 13, 12]
    assert sum(fb.stage_sizes(41, 4)) + 3 == 41


def test_fb_stages_and_merge_vertices():
    for s in range(10):
        g = draw(fb, 40, s)
        assert isinstance(g, nx.DiGraph) and nx.is_directed_acyclic_graph(g)
        assert sorted(g) == list(range(40))
        assert all(u < v for u, v in g.edges()), "labels follow a topological order"
        stages = [g.nodes[v]["stage"] for v in range(40)]
        assert stages == sorted(stages) and set(stages) == {0, 1, 2}
        merges = [v for v in g if g.nodes[v]["downsample"]]
        assert merges == [13, 27]
        for merge in merges:
            stage = g.nodes[merge]["stage"]
            before = {v for v in g if g.nodes[v]["stage"] < stage}
            # every edge leaving the earlier stages enters the merge vertex ...
            assert {v for u in before for v in g.successors(u)} - before == {merge}
            # ... so the merge vertex is a cut vertex between the stages
            rest = g.to_undirected()
            rest.remove_node(merge)
            assert not any(nx.has_path(rest, 0, v) for v in range(merge + 1, 40))


def test_fb_too_few_nodes_is_a_spec_error():
    with pytest.raises(
        SpecError, match=r"nodes: got 10; fb with 3 stages of WS\(k=4\) needs at least 17"
    ):
        draw(fb, 10, 0)
