"""Staging policies: which blocks halve H×W and double channels, and the cap rule."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from parawire.errors import SpecError
from parawire.graph.dag import to_dag
from parawire.graph.seeds import rng
from parawire.graph.spec import ArchitectureSpec, resolve_params
from parawire.network.shapes import layout
from parawire.pipeline.build import stage_flags
from parawire.registry.manager import get_plugins


def chain_dag(n: int):
    return to_dag(nx.path_graph(n))


def assign(name: str, dag, spec, seed: int = 0, **params):
    record = get_plugins().staging.get(name)
    model = resolve_params(record.params, params, where=name)
    return record.assign(dag=dag, spec=spec, params=model, rng=rng(seed, "staging"))


def test_uniform_never_stages_and_keeps_base_channels():
    spec = ArchitectureSpec(nodes=8, staging="uniform", base_channels=16)
    dag = chain_dag(8)
    out = layout(spec, dag, stage_flags(spec, dag)).out_shape
    assert not assign("uniform", dag, spec).any()
    assert (out[:8] == (16, 32, 32)).all()


def test_greedy_stages_each_block_until_the_cap():
    spec = ArchitectureSpec(nodes=6, base_channels=8, channel_cap=64)
    dag = chain_dag(6)
    flags = assign("greedy", dag, spec)
    assert flags.tolist() == [True, True, True, False, False, False, False, False]
    out = layout(spec, dag, flags).out_shape
    assert out[:6, 0].tolist() == [16, 32, 64, 64, 64, 64]
    assert out[:6, 1].tolist() == [16, 8, 4, 4, 4, 4]


def test_greedy_cap_that_is_not_a_power_of_two_times_base_is_reached_exactly():
    spec = ArchitectureSpec(nodes=4, base_channels=8, channel_cap=20)
    dag = chain_dag(4)
    out = layout(spec, dag, assign("greedy", dag, spec)).out_shape
    assert out[:4, 0].tolist() == [16, 20, 20, 20]


def test_greedy_stages_exactly_the_blocks_entered_below_the_cap():
    spec = ArchitectureSpec(generator="er", nodes=20, seed=3, base_channels=8, channel_cap=64)
    from parawire.pipeline.build import build_dag

    dag = build_dag(spec)
    flags = assign("greedy", dag, spec)
    shapes = layout(spec, dag, flags)
    conv = np.arange(20)
    assert (flags[conv] == (shapes.in_shape[conv, 0] < 64)).all()


def test_probabilistic_extremes_match_uniform_and_greedy():
    spec = ArchitectureSpec(generator="ba", nodes=16, seed=1, base_channels=8, channel_cap=64)
    from parawire.pipeline.build import build_dag

    dag = build_dag(spec)
    assert not assign("probabilistic", dag, spec, p=0.0).any()
    assert (assign("probabilistic", dag, spec, p=1.0) == assign("greedy", dag, spec)).all()


def test_probabilistic_is_seeded_and_below_the_cap():
    spec = ArchitectureSpec(nodes=30, base_channels=8, channel_cap=1024)
    dag = chain_dag(30)
    draws = [assign("probabilistic", dag, spec, seed=s) for s in range(4)]
    assert (draws[0] == assign("probabilistic", dag, spec, seed=0)).all()
    assert len({d.tobytes() for d in draws}) > 1
    # 8 → 1024 is seven doublings; a 30-chain almost surely reaches the cap but never
    # stages beyond it.
    for d in draws:
        assert d.sum() <= 7
        assert not d[[30, 31]].any()


def test_probabilistic_probability_is_validated():
    record = get_plugins().staging.get("probabilistic")
    with pytest.raises(SpecError, match=r"probabilistic\.p: got 1.5"):
        resolve_params(record.params, {"p": 1.5}, where="probabilistic")


def test_generator_stage_marks_replace_the_policy():
    graph = nx.DiGraph([(0, 1), (1, 2), (2, 3)])
    graph.nodes[2]["downsample"] = True
    dag = to_dag(graph)
    spec = ArchitectureSpec(nodes=4, staging="greedy")
    assert np.flatnonzero(stage_flags(spec, dag)).tolist() == [2]


def test_unmarked_dag_uses_the_spec_policy():
    dag = chain_dag(3)
    spec = ArchitectureSpec(nodes=3, staging="greedy", base_channels=8, channel_cap=16)
    assert np.flatnonzero(stage_flags(spec, dag)).tolist() == [0]
