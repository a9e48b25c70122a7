"""How close each placement gets to the latency lower bound (the table in docs/latency.md).

    /work/venv/bin/python benchmarks/placement_quality.py [--profiles edge lan] [--seeds 5]

For 40-vertex architectures of each generator (default spec, 3×32×32), seeds 0..S-1 and
k ∈ {4, 6, 8, 10}: the median of simulated makespan ÷ lower bound for everything on one
unit, the paper's greedy, a km1 partition (``multilevel``, ε = 0.1), that partition
refined against the simulator, HEFT, and ``schedule.place`` (the best of them refined).
"""

from __future__ import annotations

import argparse
import statistics
import warnings

import numpy as np
from parawire.calibration.local import get_profile
from parawire.graph.spec import ArchitectureSpec
from parawire.latency.model import lower_bound, simulate
from parawire.latency.schedule import heft, place, refine
from parawire.pipeline.build import build_architecture
from parawire.pipeline.placement import partition_architecture

UNITS = (4, 6, 8, 10)
COLUMNS = ("one unit", "greedy", "km1", "km1 + refine", "HEFT", "place")


def ratios(generator: str, seed: int, k: int, profile) -> dict[str, float]:
    arch = build_architecture(ArchitectureSpec(generator=generator, nodes=40, seed=seed))
    dag, flops, out_bytes = arch.dag, arch.costs.flops, arch.costs.out_bytes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        km1 = partition_architecture(arch, k, "multilevel", 0.1)
        greedy = partition_architecture(arch, k, "greedy", 0.1)
    plans = {
        "one unit": np.zeros(len(flops), dtype=np.int64),
        "greedy": greedy,
        "km1": km1,
        "km1 + refine": refine(dag, flops, out_bytes, km1, k, profile),
        "HEFT": heft(dag, flops, out_bytes, k, profile),
        "place": place(dag, flops, out_bytes, k, profile, starts=(km1,)),
    }
    bound = lower_bound(dag, flops, k, profile, out_bytes)
    return {name: simulate(dag, flops, out_bytes, p, profile) / bound for name, p in plans.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", nargs="+", default=["edge", "lan"])
    parser.add_argument("--generators", nargs="+", default=["dp", "er", "ba", "ws", "fb"])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    for name in args.profiles:
        profile = get_profile(name)
        print(f"\n`{name}`:\n\n| gen | " + " | ".join(COLUMNS) + " |")
        print("|---" * (len(COLUMNS) + 1) + "|")
        for gen in args.generators:
            rows = [ratios(gen, s, k, profile) for s in range(args.seeds) for k in UNITS]
            medians = [statistics.median(r[c] for r in rows) for c in COLUMNS]
            best = min(medians)
            cells = [f"**{m:.2f}**" if m == best else f"{m:.2f}" for m in medians]
            print(f"| {gen} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
