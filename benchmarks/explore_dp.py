"""Explore DP's (p, alpha, beta): how concurrent and how connected are its DAGs?

Not a test and not timed: a script whose output table is pasted into
docs/generators.md to justify DP's defaults. Run:

    /work/venv/bin/python benchmarks/explore_dp.py --nodes 40 --seeds 100
"""

from __future__ import annotations

import argparse
import itertools

import networkx as nx
import numpy as np
from parawire.graph.dag import to_dag
from parawire.graph.seeds import rng
from parawire.graph.stats import dag_stats
from parawire.plugins.generators import dp


def summarise(nodes: int, params: dp.DpParams, seeds: int) -> dict[str, float]:
    rows = []
    for seed in range(seeds):
        graph = dp.generate(nodes, params, rng(seed, "graph"))
        s = dag_stats(to_dag(graph))
        largest = max(len(c) for c in nx.connected_components(graph))
        rows.append((s.depth, s.max_width, graph.number_of_edges(), s.components, largest))
    a = np.array(rows, dtype=float)
    return {
        "depth": float(np.median(a[:, 0])),
        "max_width": float(a[:, 1].mean()),
        "edges": float(a[:, 2].mean()),
        "components": float(a[:, 3].mean()),
        "largest": float(a[:, 4].mean() / nodes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--p", type=float, nargs="+", default=[0.3, 0.5, 0.7, 0.9])
    parser.add_argument("--alpha", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--beta", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    args = parser.parse_args()
    grid = itertools.product(args.p, args.alpha, args.beta)
    print(
        "| p | α | β | median depth | mean max width | mean edges | mean components |"
        " largest component |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for p, alpha, beta in grid:
        r = summarise(args.nodes, dp.DpParams(p=p, alpha=alpha, beta=beta), args.seeds)
        print(
            f"| {p} | {alpha} | {beta} | {r['depth']:.0f} | {r['max_width']:.1f} |"
            f" {r['edges']:.0f} | {r['components']:.1f} | {r['largest']:.0%} |"
        )


if __name__ == "__main__":
    main()
