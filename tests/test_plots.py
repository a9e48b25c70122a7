"""Figures of the study: every file written on a tiny grid, and the data helpers exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
from parawire.errors import ParawireError
from parawire.graph.spec import ArchitectureSpec
from parawire.graph.stats import dag_stats
from parawire.study import plots

FIGURES = (
    "fig7_communication",
    "fig8_latency",
    "fig9_cs",
    "fig10_widths",
    "fig11_distribution",
    "fig12_entropy",
    "table4_params",
)


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    from parawire.study.config import StudyConfig
    from parawire.study.runner import run_study

    out = tmp_path_factory.mktemp("study") / "study.csv"
    run_study(StudyConfig.quick(samples=2), out, workers=1)
    return out


@pytest.mark.slow
def test_plot_command_writes_every_figure_and_the_report(tiny_study, tmp_path):
    from parawire.cli import main

    figures, report = tmp_path / "figures", tmp_path / "reproduction.md"
    main(["plot", str(tiny_study), "--out", str(figures), "--units", "2", "--report", str(report)])
    assert sorted(p.name for p in figures.iterdir()) == sorted(
        f"{name}.{ext}" for name in FIGURES for ext in ("png", "svg")
    )
    for name in FIGURES:
        assert (figures / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (figures / f"{name}.svg").read_bytes()[:2000]
    text = report.read_text()
    for name in ("fig7_communication", "fig8_latency", "fig9_cs", "fig10_widths", "fig12_entropy"):
        assert f"(figures/{name}.png)" in text


def test_resnet50_block_dag_shape():
    stats = dag_stats(plots.resnet50_dag())
    assert stats.vertices == 69 + 2  # stem, 16 × (3 convs + add), 4 projections; input, output
    assert stats.depth == 67  # input, stem, 16 × 4 levels, output
    assert stats.widths.count(2) == 4 and set(stats.widths) == {1, 2}  # width 2 only at projections
    assert stats.components == 1


def test_relative_to_divides_by_the_baseline_median_of_the_same_cell():
    values = {
        ("dp", 40, 4): np.array([1.0, 2.0]),
        ("fb", 40, 4): np.array([2.0, 4.0, 6.0]),
        ("dp", 40, 8): np.array([3.0]),
    }  # no FB at 8 units: dropped, not divided by nothing
    got = plots.relative_to(values, values)
    assert set(got) == {("dp", 40, 4), ("fb", 40, 4)}
    np.testing.assert_array_equal(got[("dp", 40, 4)], [0.25, 0.5])
    np.testing.assert_array_equal(got[("fb", 40, 4)], [0.5, 1.0, 1.5])


def test_params_from_grid_counts_each_sample_once_across_units():
    rows = [
        {"generator": "dp", "nodes": "40", "sample": str(s), "units": str(u), "params": str(p)}
        for s, p in ((0, 10_000_000), (1, 14_000_000))
        for u in (4, 8)
    ]
    (row,) = plots.params_from_grid(rows)
    assert (row["generator"], row["nodes"], row["staging"]) == ("dp", 40, "probabilistic")
    assert row["mean"] == pytest.approx(12.0)
    assert row["std"] == pytest.approx(np.std([10.0, 14.0], ddof=1))


def test_load_params_reads_the_params_study_json_and_csv(tmp_path):
    row = {
        "generator": "ws",
        "staging": "greedy",
        "samples": 3,
        "nodes": 40,
        "mean_params_m": 42.0,
        "std_params_m": 1.5,
        "min_params_m": 40.0,
        "max_params_m": 44.0,
    }
    (tmp_path / "p.json").write_text(json.dumps({"settings": {}, "rows": [row]}))
    (tmp_path / "p.csv").write_text(",".join(row) + "\n" + ",".join(map(str, row.values())) + "\n")
    expected = [
        {
            "generator": "ws",
            "staging": "greedy",
            "nodes": 40,
            "group": "greedy staging",
            "mean": 42.0,
            "std": 1.5,
        }
    ]
    assert plots.load_params(tmp_path / "p.json") == expected
    assert plots.load_params(tmp_path / "p.csv") == expected


def test_load_params_rejects_another_table(tmp_path):
    bad = tmp_path / "study.csv"
    bad.write_text("generator,nodes\ndp,40\n")
    with pytest.raises(ParawireError, match=r"--params .*study.csv: lacks the column 'staging'; .* --out PATH.csv"):
        plots.load_params(bad)


def test_generators_keep_the_papers_order_then_plugins():
    assert plots.generators_in(["sbm", "chain", "dp", "er", "dp"]) == ["er", "dp", "chain", "sbm"]


def test_sample_spec_is_the_studys_own_when_the_config_is_known():
    from parawire.study.config import StudyConfig
    from parawire.study.plots import sample_spec

    config = StudyConfig(input_shape=(3, 64, 64), classes=7, staging="greedy")
    spec = config.spec("dp", 20, 3)
    row = {"generator": "dp", "nodes": "20", "sample": "3", "seed": str(spec.seed)}
    assert sample_spec(row, config) == spec
    bare = sample_spec(row)
    assert (bare.seed, bare.input_shape) == (spec.seed, ArchitectureSpec().input_shape)


@pytest.fixture
def drawn(monkeypatch):
    """The figures a drawing function made, kept open instead of saved."""
    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, out, name: figures.append(fig) or [])
    return figures


def test_a_group_without_spread_is_a_coloured_diamond_and_one_legend_explains_the_boxes(drawn, tmp_path):
    rows = [{"generator": g, "nodes": "40", "units": str(u), "cs": str(cs)}
            for u in (2, 4) for g, values in (("dp", (0.5, 0.8, 1.1, 1.4)), ("chain", (0.3,) * 4))
            for cs in values]
    plots.fig9_cs(rows, tmp_path)
    fig = drawn[0]
    diamonds = [c for c in fig.axes[0].collections if c.get_offsets().shape[0]]
    assert len(diamonds) == 1 and diamonds[0].get_offsets()[:, 1].tolist() == [0.3, 0.3]
    assert tuple(diamonds[0].get_facecolor()[0][:3]) == pytest.approx(
        tuple(int(plots.COLOURS["chain"][i:i + 2], 16) / 255 for i in (1, 3, 5)))
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["DP", "CHAIN"]
    assert "CHAIN (one chain of blocks) scores low because it barely communicates" in legend.get_title().get_text()
    assert plots.BOX_KEY in legend.get_title().get_text()


def test_fig11_counts_and_marks_the_edges_between_units(drawn, tmp_path):
    from parawire.pipeline.build import build_architecture

    arch = build_architecture(ArchitectureSpec(generator="chain", nodes=4, base_channels=2, channel_cap=4))
    dag = arch.dag
    part = [0] * len(dag.order)
    for v in dag.order[len(dag.order) // 2:]:
        part[v] = 1
    plots.fig11_distribution(dag, {2: part}, tmp_path, ": CHAIN, 4 vertices")
    title = drawn[0].axes[0].get_title(loc="left")
    assert title.startswith("2 units: 1 of 3 edges between units (dark red)")
    assert [t.get_text() for t in drawn[0].axes[0].get_legend().get_texts()] == ["unit 0", "unit 1", "between units"]


@pytest.mark.parametrize("stagings, title", [
    (("greedy", "probabilistic"), "Table 4  Parameter size per generator and staging policy (mean ± std)"),
    (("probabilistic",), "Parameter size per generator (mean ± std), probabilistic staging only\nthe paper's"),
])
def test_table4_is_called_table4_only_when_it_compares_staging_policies(drawn, tmp_path, stagings, title):
    params = [{"generator": "dp", "staging": s, "nodes": 40, "group": f"{s} staging", "mean": 1.0, "std": 0.1}
              for s in stagings]
    plots.table4_params(params, tmp_path)
    assert drawn[0]._suptitle.get_text().startswith(title)
