"""The paper's study figures (Fig. 7–12, Table 4) from a study's tidy table.

Each public function draws one figure and writes it as PNG and SVG into ``out`` (the
paths are returned). matplotlib is imported lazily with the Agg backend, so importing
this module (or running ``parawire`` at all) never pays for it and never needs a display.

Figures 7, 8, 9 and 12 share one layout, :func:`_boxes_by_nodes`: one panel per vertex
count, unit counts along x, one box per generator inside each unit group. Their whiskers
span the 1st–99th percentile (the paper's Fig. 12 convention, used everywhere so that
every figure reads the same way); outliers beyond them are not drawn because with
1000 samples a cell they only add ink. Every box figure says so in its legend, which
sits under all panels (one legend for the figure, so no panel lacks one), and a group
whose samples barely differ (the FB baseline normalised to itself, CHAIN, whose
samples are all the same chain) is drawn as a diamond in its colour: as a box it would
be a black dash with neither colour nor a place in the legend.
"""

from __future__ import annotations

import csv
import itertools
import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import networkx as nx
import numpy as np
from parawire.errors import ParawireError
from parawire.graph.dag import Dag, to_dag
from parawire.graph.spec import ArchitectureSpec
from parawire.graph.stats import dag_stats, depth_levels
from parawire.network.architecture import Architecture
from parawire.pipeline.build import build_architecture, build_dag
from parawire.pipeline.score import score_architecture
from parawire.study.config import StudyConfig

ORDER = ("er", "ba", "ws", "dp", "fb", "chain")
COLOURS = {
    "er": "#4c72b0",
    "ba": "#dd8452",
    "ws": "#55a868",
    "dp": "#c44e52",
    "fb": "#8172b3",
    "chain": "#937860",
    "resnet50": "#555555",
}
DPI = 200
WHISKERS = (1, 99)
#: Under every box figure: how to read a box.
BOX_KEY = "box: 25–75 % of the samples, line: median, whiskers: 1st–99th percentile; ◆: no visible spread"
#: A box shorter than this share of its panel's span (1st–99th percentile of every value
#: drawn there; on a log axis, in logs) would be a dash: it is drawn as a diamond.
FLAT = 0.015
#: Fig. 11's unit colours (Okabe–Ito, colour-blind safe; grey for its black) and shapes:
#: a colour and a shape per unit, so eight units stay apart in print and for every reader.
UNIT_COLOURS = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999")
UNIT_SHAPES = "os^Dv<>p"

Cells = dict[tuple[str, int, int], np.ndarray]  # (generator, nodes, units) -> values


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    # Byte-identical files for identical data: SVG element ids come from a fixed salt and
    # no creation date is written, so regenerating the docs' figures leaves git clean.
    matplotlib.rcParams["svg.hashsalt"] = "parawire"
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: Path, name: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    for path in paths:
        metadata = {"Date": None} if path.suffix == ".svg" else None
        fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata=metadata)
    _pyplot().close(fig)
    return paths


def generators_in(names: Iterable[str]) -> list[str]:
    """The paper's order first (ER, BA, WS, DP, FB, chain), then any plugin generators."""
    present = set(names)
    return [g for g in ORDER if g in present] + sorted(present - set(ORDER))


def colour(generator: str, index: int) -> str:
    return COLOURS.get(generator, f"C{index % 10}")


def cells(rows: Sequence[Mapping[str, str]], column: str) -> Cells:
    """The column's values grouped by (generator, nodes, units)."""
    grouped: dict[tuple[str, int, int], list[float]] = defaultdict(list)
    for r in rows:
        grouped[(r["generator"], int(r["nodes"]), int(r["units"]))].append(float(r[column]))
    return {k: np.asarray(v) for k, v in grouped.items()}


def relative_to(values: Cells, baseline: Cells, generator: str = "fb") -> Cells:
    """Each cell divided by the baseline generator's median in the same (nodes, units)."""
    out = {}
    for (gen, nodes, units), v in values.items():
        ref = baseline.get((generator, nodes, units))
        if ref is not None and len(ref):
            out[(gen, nodes, units)] = v / float(np.median(ref))
    return out


def _boxes(ax, values: Cells, nodes: int, log: bool = False) -> None:
    """One group per unit count, one box per generator in it (the shared layout)."""
    gens = generators_in(g for g, n, _ in values if n == nodes)
    units = sorted({u for _, n, u in values if n == nodes})
    width = 0.8 / max(len(gens), 1)
    scale = np.log if log else np.asarray
    every = scale(np.concatenate([v for (_, n, _), v in values.items() if n == nodes]))
    span = float(np.subtract(*np.percentile(every, [99, 1])))
    for i, gen in enumerate(gens):
        keys = [(gen, nodes, u) for u in units if (gen, nodes, u) in values]
        if not keys:
            continue
        pos = [units.index(k[2]) + (i - (len(gens) - 1) / 2) * width for k in keys]
        box = ax.boxplot(
            [values[k] for k in keys],
            positions=pos,
            widths=width * 0.85,
            whis=WHISKERS,
            showfliers=False,
            patch_artist=True,
        )
        for patch in box["boxes"]:
            patch.set(facecolor=colour(gen, i), alpha=0.8)
        for median in box["medians"]:
            median.set(color="black")
        flat = [(p, float(np.median(values[k]))) for p, k in zip(pos, keys) if _flat(scale(values[k]), span)]
        if flat:
            ax.scatter(*zip(*flat), marker="D", s=36, color=colour(gen, i), edgecolors="black",
                       linewidths=0.6, zorder=3)
        ax.plot([], [], "s", color=colour(gen, i), label=gen.upper())
    ax.set_xticks(range(len(units)), [str(u) for u in units])
    ax.set_xlabel("units")
    ax.set_title(f"{nodes} vertices")
    if log:
        _plain_log_axis(ax)
    ax.grid(axis="y", alpha=0.3)


def _flat(values: np.ndarray, span: float) -> bool:
    """True when the middle half of the samples spans under ``FLAT`` of the panel's ``span``."""
    q1, q3 = np.percentile(values, [25, 75])
    return q3 - q1 <= FLAT * span


def _plain_log_axis(ax) -> None:
    """A log y axis labelled in plain numbers (0.5, 1, 2, not 10⁻¹): every decade and,
    when the axis spans less than about two decades, the 2× and 5× ticks inside it; the
    other minor ticks stay unlabelled so that labels never overlap."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    plain = FuncFormatter(lambda y, _: f"{y:g}")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10))))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _boxes_by_nodes(
    panels: Sequence[tuple[Cells, str]],
    title: str,
    out: Path,
    name: str,
    log: bool = False,
    reference: float | None = None,
    note: str = "",
) -> list[Path]:
    """Rows of panels (one per (values, y-label)), one column per vertex count; one legend
    for the whole figure under the panels, with the figure's ``note`` and how to read a box."""
    plt = _pyplot()
    nodes = sorted({n for values, _ in panels for _, n, _ in values})
    fig, axes = plt.subplots(
        len(panels),
        len(nodes),
        figsize=(5.5 * len(nodes), 3.6 * len(panels) + 1.0),
        squeeze=False,
        sharey="row",
        layout="constrained",
    )
    for row, (values, ylabel) in enumerate(panels):
        for col, n in enumerate(nodes):
            ax = axes[row][col]
            _boxes(ax, values, n, log=log)
            if reference is not None:
                ax.axhline(reference, color="grey", lw=0.8, ls="--")
            if col == 0:
                ax.set_ylabel(ylabel)
    legend = {}
    for ax in axes.flat:
        legend.update(zip(*reversed(ax.get_legend_handles_labels())))
    fig.legend(list(legend.values()), list(legend), loc="outside lower center", ncols=len(legend),
               fontsize="small", title="\n".join(filter(None, [note, BOX_KEY])), title_fontsize="small",
               frameon=False)
    fig.suptitle(title)
    return _save(fig, out, name)


def fig7_communication(rows, out: Path) -> list[Path]:
    """Fig. 7: total communication Λ (km1 of the best-CS partition) in MB."""
    mb = {k: v / 1e6 for k, v in cells(rows, "km1_bytes").items()}
    return _boxes_by_nodes(
        [(mb, "communication Λ (MB)")],
        "Fig. 7  Total communication with distribution",
        out,
        "fig7_communication",
        note="Λ: bytes sent between units per inference, for the partition with the best concurrency score",
    )


def fig8_latency(rows, out: Path) -> list[Path]:
    """Fig. 8: simulated inference time ÷ FB's median, for the paper's partition and HEFT.

    Both rows divide by FB's median under the *paper's* placement (the hypergraph
    partition of best CS), so they share a scale: the HEFT row shows how much a
    critical-path-aware placement gains on top of choosing the architecture.
    """
    base = cells(rows, "latency_s")
    panels = [
        (relative_to(base, base), "latency (best-CS partition)\n÷ FB's median, same placement"),
        (
            relative_to(cells(rows, "latency_heft_s"), base),
            "latency (HEFT placement)\n÷ FB's median, best-CS partition",
        ),
    ]
    return _boxes_by_nodes(
        panels,
        "Fig. 8  Simulated inference time ÷ the FB baseline's",
        out,
        "fig8_latency",
        log=True,
        reference=1.0,
        note="FB: the FB baseline (RandWire's Watts–Strogatz stages joined by merge and downsample vertices);"
             " below the dashed line: faster than FB",
    )


def fig9_cs(rows, out: Path) -> list[Path]:
    """Fig. 9: concurrency score of the best ε (lower is better)."""
    return _boxes_by_nodes(
        [(cells(rows, "cs"), "CS (lower is better)")], "Fig. 9  Concurrency scores", out, "fig9_cs",
        note="CHAIN (one chain of blocks) scores low because it barely communicates, not because it runs"
             " concurrently: with nothing to overlap, its η is the worst possible",
    )


def fig12_entropy(rows, out: Path) -> list[Path]:
    """Fig. 12: normalised Shannon entropy of the unit loads (1 = perfect balance)."""
    return _boxes_by_nodes(
        [(cells(rows, "entropy"), "load-balance entropy")],
        "Fig. 12  Load balance quality",
        out,
        "fig12_entropy",
        note="entropy of the units' loads ÷ its maximum: 1 = every unit equally loaded",
    )


def resnet50_dag() -> Dag:
    """ResNet-50's block graph, shaped like a parawire DAG (for Fig. 10).

    Vertices are the convolutions: the stem (7×7 conv + max-pool), then 16 bottleneck
    blocks in stages of 3, 4, 6 and 3. A bottleneck is the chain 1×1 → 3×3 → 1×1 plus
    its residual branch, joined by an add vertex. The residual branch is a vertex (the
    1×1 projection convolution) only in the first block of each stage; elsewhere it is
    the identity, which computes nothing and so is an edge, not a vertex. ``to_dag``
    adds the input vertex before the stem and the output vertex (pool + FC) after the
    last add, so the same :func:`parawire.graph.stats.dag_stats` measures it: 69 computation
    vertices, depth 67, width 2 only beside the four projections.
    """
    g = nx.DiGraph()
    ids = itertools.count()
    last = next(ids)
    g.add_node(last)  # stem
    for blocks in (3, 4, 6, 3):
        for b in range(blocks):
            a, m, c, add = (next(ids) for _ in range(4))
            nx.add_path(g, [last, a, m, c, add])
            if b == 0:
                nx.add_path(g, [last, next(ids), add])
            else:
                g.add_edge(last, add)
            last = add
    return to_dag(g)


def samples_of(rows, generator: str, nodes: int) -> dict[int, Mapping[str, str]]:
    """One row per sample of a generator and size (its per-sample columns are the same
    in every units row)."""
    return {
        int(r["sample"]): r
        for r in rows
        if r["generator"] == generator and int(r["nodes"]) == nodes
    }


def representative(rows, generator: str, nodes: int) -> dict:
    """The sample of median depth (ties: lowest sample id) of one generator and size."""
    samples = samples_of(rows, generator, nodes)
    ranked = sorted(samples.values(), key=lambda r: (int(r["depth"]), int(r["sample"])))
    return ranked[(len(ranked) - 1) // 2]


def sample_spec(row: Mapping[str, str], config: StudyConfig | None = None) -> ArchitectureSpec:
    """The spec of a study row: exactly the study's when its config is known (Fig. 11's
    partitions depend on input shape and staging), else the row's generator, size and
    seed with spec defaults (enough for the DAG, which is all Fig. 10 draws)."""
    if config is not None:
        return config.spec(row["generator"], int(row["nodes"]), int(row["sample"]))
    return ArchitectureSpec(
        generator=row["generator"], nodes=int(row["nodes"]), seed=int(row["seed"])
    )


def fig10_widths(rows, out: Path, nodes: int | None = None) -> list[Path]:
    """Fig. 10: width per depth level of each generator's median-depth sample vs ResNet-50.

    The panel titles also give the medians of depth and max width over all samples,
    read from the table, so one drawn sample is not mistaken for the distribution.
    """
    plt = _pyplot()
    nodes = nodes or min(int(r["nodes"]) for r in rows)
    gens = generators_in(r["generator"] for r in rows if int(r["nodes"]) == nodes)
    shown = [(g, build_dag(sample_spec(representative(rows, g, nodes)))) for g in gens]
    shown.append(("resnet50", resnet50_dag()))
    fig, axes = plt.subplots(
        len(shown), 1, figsize=(10, 1.7 * len(shown)), sharex=True, squeeze=False
    )
    for i, (ax, (gen, dag)) in enumerate(zip(axes[:, 0], shown)):
        stats = dag_stats(dag)
        ax.bar(range(stats.depth), stats.widths, color=colour(gen, i), width=0.9)
        title = f"{gen.upper() if gen != 'resnet50' else 'ResNet-50'}: depth {stats.depth}, max width {stats.max_width}"
        if gen != "resnet50":
            per_sample = samples_of(rows, gen, nodes)
            depth, width = (
                statistics.median(int(r[c]) for r in per_sample.values())
                for c in ("depth", "max_width")
            )
            title += f"  (median of {len(per_sample)}: depth {depth:g}, max width {width:g})"
        ax.set_title(title, fontsize="medium", loc="left")
        ax.set_ylabel("width")
        ax.yaxis.get_major_locator().set_params(integer=True)
    axes[-1, 0].set_xlabel("depth level (longest distance from the input)")
    fig.suptitle(f"Fig. 10  Width per depth level: each generator's median-depth sample of {nodes} vertices,"
                 f" and ResNet-50's {dag_stats(shown[-1][1]).vertices - 2} blocks")
    fig.tight_layout()
    return _save(fig, out, "fig10_widths")


def level_layout(dag: Dag) -> dict[int, tuple[float, float]]:
    """x = depth level, y = the vertex's place within its level, centred on 0."""
    level = depth_levels(dag)
    by_level: dict[int, list[int]] = defaultdict(list)
    for v in dag.order:
        by_level[level[v]].append(v)
    return {
        v: (lvl, i - (len(vs) - 1) / 2) for lvl, vs in by_level.items() for i, v in enumerate(vs)
    }


def fig11_distribution(
    dag: Dag, partitions: Mapping[int, Sequence[int]], out: Path, label: str = ""
) -> list[Path]:
    """Fig. 11: one architecture drawn by depth level, vertices coloured by unit.

    As in the paper's appendix, the input vertex is the common node every unit computes
    (a scatter; drawn white) and the output is the extra gather unit (drawn black), so
    their own entries in the partition are not shown as colours. Each unit has a colour
    and a shape; the edges between two units (the messages) are drawn dark and thick,
    the others faint, and each panel counts them; its legend sits right under it.
    """
    plt = _pyplot()
    from matplotlib.lines import Line2D

    pos = level_layout(dag)
    fig, axes = plt.subplots(len(partitions), 1, figsize=(10, 3.0 * len(partitions)), squeeze=False,
                             layout="constrained")
    inner = [v for v in dag.order if v not in (dag.input, dag.output)]
    ends = (  # (vertices, style): the common input in white, the gather unit in black
        ([dag.input], {"node_color": "white", "edgecolors": "black"}),
        ([dag.output], {"node_color": "black"}),
    )
    edges = [(a, b) for a, b in dag.graph.edges if a in inner and b in inner]
    for ax, (units, part) in zip(axes[:, 0], sorted(partitions.items())):
        cut = [(a, b) for a, b in edges if part[a] != part[b]]
        kept = [e for e in dag.graph.edges if e not in set(cut)]
        nx.draw_networkx_edges(dag.graph, pos, edgelist=kept, ax=ax, alpha=0.2, arrowsize=6, width=0.6)
        nx.draw_networkx_edges(dag.graph, pos, edgelist=cut, ax=ax, edge_color="#b2182b", alpha=0.9,
                               arrowsize=8, width=1.4)
        used = sorted({part[v] for v in inner})
        handles = []
        for u in used:
            style = {"node_color": UNIT_COLOURS[u % len(UNIT_COLOURS)], "node_shape": UNIT_SHAPES[u % len(UNIT_SHAPES)]}
            nx.draw_networkx_nodes(dag.graph, pos, nodelist=[v for v in inner if part[v] == u], ax=ax,
                                   node_size=70, edgecolors="black", linewidths=0.4, **style)
            handles.append(Line2D([], [], marker=style["node_shape"], linestyle="", markersize=7,
                                  color=style["node_color"], markeredgecolor="black", label=f"unit {u}"))
        for nodelist, style in ends:
            nx.draw_networkx_nodes(
                dag.graph, pos, nodelist=nodelist, ax=ax, node_size=110, node_shape="s", **style
            )
        handles.append(Line2D([], [], color="#b2182b", lw=1.4, label="between units"))
        ax.set_title(
            f"{units} units: {len(cut)} of {len(edges)} edges between units (dark red); white square: the common"
            " input, black: the gather unit",
            fontsize="medium",
            loc="left",
        )
        ax.legend(handles=handles, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, 0.0),
                  ncols=len(handles), frameon=False, handletextpad=0.2, columnspacing=0.9)
        ax.axis("off")
    fig.suptitle(f"Fig. 11  Distribution of one architecture{label}")
    return _save(fig, out, "fig11_distribution")


ParamRow = dict  # generator, staging, nodes, group (legend label), mean, std (millions)


def load_params(path: str | Path) -> list[ParamRow]:
    """Rows of a ``parawire study params --out`` table (.csv or .json) as (generator,
    group=staging, mean, std)."""
    path = Path(path)
    try:
        if path.suffix == ".json":
            raw = json.loads(path.read_text())["rows"]
        else:
            with path.open(newline="") as fh:
                raw = list(csv.DictReader(fh))
        return [
            {
                "generator": r["generator"],
                "staging": r["staging"],
                "nodes": int(r["nodes"]),
                "group": f"{r['staging']} staging",
                "mean": float(r["mean_params_m"]),
                "std": float(r["std_params_m"]),
            }
            for r in raw
        ]
    except KeyError as exc:
        raise ParawireError(f"--params {path}: lacks the column {exc}; not a table of `parawire study params`,"
                            " which writes one with --out PATH.csv (or .json)") from None
    except (OSError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise ParawireError(f"--params {path}: not a table of `parawire study params` ({exc}); write one"
                            " with `parawire study params --out PATH.csv` (or .json)") from None


def params_from_grid(rows, staging: str = "probabilistic") -> list[ParamRow]:
    """Table 4 from the grid itself: mean and std (ddof 1) of parameters per generator × size.

    ``staging`` only labels the rows: it is the study's staging policy (the table does
    not record it; StudyConfig's default is the paper's probabilistic staging).
    """
    per: dict[tuple[str, int], dict[int, float]] = defaultdict(dict)
    for r in rows:
        per[(r["generator"], int(r["nodes"]))][int(r["sample"])] = int(r["params"]) / 1e6
    out = []
    for (gen, nodes), by_sample in per.items():
        m = np.fromiter(by_sample.values(), dtype=float)
        out.append(
            {
                "generator": gen,
                "staging": staging,
                "nodes": nodes,
                "group": f"{nodes} vertices ({staging} staging, grid)",
                "mean": float(m.mean()),
                "std": float(m.std(ddof=1)) if len(m) > 1 else 0.0,
            }
        )
    return out


def table4_params(params: Sequence[ParamRow], out: Path) -> list[Path]:
    """Table 4 as bars: mean parameter count per generator, ±1 std, one bar per group."""
    plt = _pyplot()
    gens = generators_in(p["generator"] for p in params)
    groups = sorted({p["group"] for p in params})
    lookup = {(p["generator"], p["group"]): p for p in params}
    width = 0.8 / len(groups)
    fig, ax = plt.subplots(figsize=(1.2 * len(gens) + 2, 3.6))
    for j, group in enumerate(groups):
        xs = [
            i + (j - (len(groups) - 1) / 2) * width
            for i, g in enumerate(gens)
            if (g, group) in lookup
        ]
        got = [lookup[(g, group)] for g in gens if (g, group) in lookup]
        ax.bar(
            xs,
            [p["mean"] for p in got],
            width * 0.9,
            yerr=[p["std"] for p in got],
            capsize=3,
            label=group,
            color=f"C{j}",
            alpha=0.85,
        )
    ax.set_xticks(range(len(gens)), [g.upper() for g in gens])
    ax.set_ylabel("parameters (millions)")
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    stagings = sorted({p["staging"] for p in params})
    if len(stagings) > 1:
        fig.suptitle("Table 4  Parameter size per generator and staging policy (mean ± std)")
    else:  # from the grid alone: one policy, so not yet the paper's comparison of policies
        fig.suptitle(f"Parameter size per generator (mean ± std), {stagings[0]} staging only\nthe paper's Table 4"
                     " compares staging policies: `parawire study params`, then `parawire plot … --params"
                     " results/params.csv`", fontsize="medium")
    fig.tight_layout()
    return _save(fig, out, "table4_params")


def partitions_for(arch: Architecture, units: Sequence[int]) -> dict[int, tuple[int, ...]]:
    """The best-CS partition of the architecture for each unit count (default ε sweep)."""
    return {row.units: row.partition for row in score_architecture(arch, list(units)) if row.best}


def figure_jobs(
    rows,
    out: Path,
    params: Sequence[ParamRow] | None = None,
    arch: Architecture | None = None,
    units: Sequence[int] = (2, 4, 8),
    config: StudyConfig | None = None,
) -> dict[str, Callable[[], list[Path]]]:
    """Every figure of the study as a job to run (so a caller can show progress between
    them); Fig. 11 draws ``arch`` or, by default, DP's median-depth sample, built from
    the study's ``config`` when given."""

    def fig11() -> list[Path]:
        shown = arch
        label = ""
        if shown is None:
            gens = generators_in(r["generator"] for r in rows)
            pick = "dp" if "dp" in gens else gens[0]
            row = representative(rows, pick, min(int(r["nodes"]) for r in rows))
            shown = build_architecture(sample_spec(row, config))
            label = f", the study's sample {row['sample']} (of median depth)"
        label = f": {shown.spec.generator.upper()}, {shown.spec.nodes} vertices{label}"
        return fig11_distribution(shown.dag, partitions_for(shown, units), out, label)

    return {
        "fig7": lambda: fig7_communication(rows, out),
        "fig8": lambda: fig8_latency(rows, out),
        "fig9": lambda: fig9_cs(rows, out),
        "fig10": lambda: fig10_widths(rows, out),
        "fig11": fig11,
        "fig12": lambda: fig12_entropy(rows, out),
        "table4": lambda: table4_params(params or params_from_grid(rows), out),
    }
