"""The sbm rule, checked through the plugin author's fixtures from parawire.testing."""

from __future__ import annotations

import numpy as np
import parawire_sbm
import pytest
from parawire.plugin import SpecError, rng


def test_blocks_are_contiguous_and_balanced():
    assert parawire_sbm.block_of(10, 3).tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_edge_rates_inside_and_across_groups():
    params = parawire_sbm.SbmParams(blocks=4, p_in=0.5, p_out=0.05)
    block = parawire_sbm.block_of(40, 4)
    inside = across = 0
    for seed in range(100):
        for u, v in parawire_sbm.generate(40, params, rng(seed, "graph")).edges():
            inside += block[u] == block[v]
            across += block[u] != block[v]
    pairs_in, pairs_out = 4 * 45 * 100, (780 - 4 * 45) * 100
    assert abs(inside / pairs_in - 0.5) < 0.02
    assert abs(across / pairs_out - 0.05) < 0.01


def test_no_links_across_when_p_out_is_zero():
    params = parawire_sbm.SbmParams(blocks=5, p_in=1.0, p_out=0.0)
    g = parawire_sbm.generate(20, params, rng(0, "graph"))
    block = parawire_sbm.block_of(20, 5)
    assert g.number_of_edges() == 5 * 6
    assert all(block[u] == block[v] for u, v in g.edges())


def test_more_blocks_than_nodes_is_a_spec_error():
    with pytest.raises(
        SpecError, match=r"params\[sbm\]\.blocks: got 9; must be at most nodes \(8\)"
    ):
        parawire_sbm.generate(8, parawire_sbm.SbmParams(blocks=9), np.random.default_rng(0))


def test_registers_through_the_hook(register_plugin):
    """Works installed (the entry point registered the module already) or not."""
    plugins = register_plugin(parawire_sbm, name="parawire-sbm:sbm")
    assert plugins.generators.get("sbm").params is parawire_sbm.SbmParams
    assert plugins.generators.get("sbm").distribution == "parawire-sbm"
    assert plugins.generators.conflicts() == {}
