"""The ε sweep and ``parawire score``."""

import json
import re

import networkx as nx
import numpy as np
import pytest
from click.testing import CliRunner
from parawire.cli import cli
from parawire.errors import ParawireError
from parawire.graph.dag import to_dag
from parawire.graph.spec import ArchitectureSpec
from parawire.network.cost import Costs
from parawire.pipeline.score import DEFAULT_EPS, score_architecture


def chains_pair(k=3, length=4):
    dag = to_dag(nx.disjoint_union_all([nx.path_graph(length)] * k))
    n = dag.graph.number_of_nodes()
    flops = np.r_[np.full(n - 2, 10), 0, 0].astype(np.int64)
    out = np.full(n, 4, dtype=np.int64)
    costs = Costs(flops=flops, params=np.zeros(n, dtype=np.int64), out_bytes=out)
    return dag, costs


def test_one_row_per_units_and_eps_with_one_best_per_units():
    rows = score_architecture(chains_pair(), [2, 3], [0.0, 0.5], seed=0)
    assert [(r.units, r.eps) for r in rows] == [(2, 0.0), (2, 0.5), (3, 0.0), (3, 0.5)]
    for units in (2, 3):
        group = [r for r in rows if r.units == units]
        assert sum(r.best for r in group) == 1
        assert next(r for r in group if r.best).score == min(r.score for r in group)


def test_k_disjoint_chains_on_k_units_score_the_io_nets_only():
    dag, costs = chains_pair(k=3, length=4)
    (row,) = score_architecture((dag, costs), [3], [0.0], seed=0)
    m = row.metrics
    assert m.imbalance == 1.0 and m.balanced
    assert m.km1 == 2 * (3 - 1) * 4  # input net and the output's in-nets
    assert m.eta == pytest.approx(6 / (14 / 3))  # path input, 4 vertices, output
    assert row.score == pytest.approx((1.0 * (m.km1 / (4 * 3)) ** 1.5 * m.eta) ** (1 / 3))


def test_unit_comm_fixes_the_normalisation():
    rows = score_architecture(chains_pair(), [3], [0.0], seed=0, unit_comm=8)
    assert rows[0].metrics.unit_comm == 8 and rows[0].metrics.lambda_norm == 16 / 24


def test_same_seed_same_rows():
    a = score_architecture(chains_pair(k=4), [2, 4], seed=3)
    b = score_architecture(chains_pair(k=4), [2, 4], seed=3)
    assert [r.partition for r in a] == [r.partition for r in b]
    assert [r.eps for r in a if r.units == 2] == list(DEFAULT_EPS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"units": []}, "units: got"),
        ({"units": [0]}, "units: got"),
        ({"units": [2], "eps": [-1.0]}, "eps: got"),
        ({"units": [2], "partitioner": "nope"}, "unknown partitioner 'nope'"),
        ({"units": [2], "score": "nope"}, "unknown score 'nope'"),
        ({"units": [2], "partitioner_params": {"tries": 0}}, r"partitioner_params\[multilevel\]\.tries: got 0"),
    ],
)
def test_bad_requests_are_one_line_errors(kwargs, message):
    with pytest.raises(ParawireError, match=message):
        score_architecture(chains_pair(), **kwargs)


@pytest.fixture
def spec_file(tmp_path):
    return ArchitectureSpec(generator="er", nodes=20, seed=2).save(tmp_path / "arch.json")


def test_cli_json_rows(spec_file):
    result = CliRunner().invoke(
        cli, ["score", str(spec_file), "--units", "2", "4", "--eps", "0.03", "0.3", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    assert [(r["units"], r["eps"]) for r in rows] == [(2, 0.03), (2, 0.3), (4, 0.03), (4, 0.3)]
    assert all(len(r["partition"]) == 22 for r in rows)
    assert sum(r["best"] for r in rows) == 2


def test_cli_table_marks_the_best(spec_file):
    result = CliRunner().invoke(cli, ["score", str(spec_file), "--units", "3", "--partitioner", "greedy"])
    assert result.exit_code == 0, result.output
    assert "best" in result.output and "entropy" in result.output
    assert len(re.findall(r"^\s*3\s", result.output, flags=re.M)) == len(DEFAULT_EPS)
