"""Does the search's accuracy proxy rank architectures as full training does? (Kendall τ)

    .venv/bin/python benchmarks/search_proxy.py                       # 30 architectures
    .venv/bin/python benchmarks/search_proxy.py --samples 40 --out results/search-proxy.csv

Architectures are drawn at random from the default search space of ``parawire search``
(every installed generator and staging policy, 10–60 vertices, base channels 4–32,
0–4 doublings; :func:`parawire.search.proxy.validation_candidates`). Each is trained once
with the full schedule of the digits accuracy study (6 epochs, lr 0.1 then 0.01 for the
last, :data:`~parawire.search.proxy.FULL_SCHEDULE`) and its test accuracy recorded after
every epoch. The proxy with E epochs is exactly the accuracy after epoch E of that run
(docstring of :mod:`parawire.search.proxy`), so τ(acc after E, acc after 6) is the rank
agreement of the proxy the search uses. Parameter count is shown too, as the
zero-cost proxy to beat. Resumable: one CSV row per architecture, appended as it
finishes; rerun the same command after an interruption. The search uses the proxy only
with τ ≥ 0.5 (docs/search.md records the measured value).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from parawire.graph.spec import ArchitectureSpec
from parawire.pipeline.build import build_architecture
from parawire.search.proxy import (
    FULL_EPOCHS,
    FULL_SCHEDULE,
    PROXY_SCHEDULE,
    train_history,
    validation_candidates,
)
from parawire.search.settings import SearchSettings
from parawire.study.store import ResultStore, read_rows

EPOCH_COLUMNS = tuple(f"acc{e}" for e in range(1, FULL_EPOCHS + 1))
COLUMNS = ("generator", "nodes", "sample", "staging", "base_channels", "channel_cap", "params", *EPOCH_COLUMNS,
           "seconds")


def short_schedule(epochs: int) -> str:
    """The full schedule compressed to ``epochs``: lr 0.1, the last epoch at 0.01 (the
    alternative proxy ``--short`` measures; it ranked no better, docs/search.md)."""
    return PROXY_SCHEDULE if epochs == 1 else f"{PROXY_SCHEDULE},{epochs - 1}:0.01:0.9"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results/search-proxy.csv"))
    parser.add_argument("--short", type=int, metavar="E",
                        help="also train each architecture E epochs with the full schedule compressed "
                             "(last epoch at lr 0.01) and rank that against full training")
    args = parser.parse_args()
    space = SearchSettings.build(profile="edge", devices=1, trials=1).space()
    store = ResultStore.open(args.out, COLUMNS, settings={"seed": args.seed, "schedule": FULL_SCHEDULE,
                                                          "space": [list(row) for row in space.describe()]})
    for i, fields in enumerate(validation_candidates(space, args.samples, args.seed)):
        spec = ArchitectureSpec.parse(fields)
        if (spec.generator, spec.nodes, i) in store.done:
            continue
        began = time.perf_counter()
        history = train_history(spec, FULL_EPOCHS, FULL_SCHEDULE)
        store.append([{
            "generator": spec.generator, "nodes": spec.nodes, "sample": i, "staging": spec.staging,
            "base_channels": spec.base_channels, "channel_cap": spec.channel_cap,
            "params": build_architecture(spec).costs.total_params,
            **{c: f"{a:.6f}" for c, a in zip(EPOCH_COLUMNS, history)}, "seconds": f"{time.perf_counter() - began:.1f}",
        }])
        print(f"{i + 1}/{args.samples} {spec.generator} n={spec.nodes} {spec.staging} "
              f"{spec.base_channels}/{spec.channel_cap}: " + " ".join(f"{a:.3f}" for a in history), flush=True)
    rows = read_rows(args.out, numeric=("params", *EPOCH_COLUMNS))
    short = train_short(args, space, args.short) if args.short else None
    report(rows, short)


def train_short(args, space, epochs: int) -> dict:
    """Accuracy after ``epochs`` epochs of the compressed schedule, per architecture key."""
    path = args.out.with_name(f"{args.out.stem}-short{epochs}.csv")
    store = ResultStore.open(path, ("generator", "nodes", "sample", "accuracy"),
                             settings={"seed": args.seed, "schedule": short_schedule(epochs)})
    for i, fields in enumerate(validation_candidates(space, args.samples, args.seed)):
        spec = ArchitectureSpec.parse(fields)
        if (spec.generator, spec.nodes, i) not in store.done:
            accuracy = train_history(spec, epochs, short_schedule(epochs))[-1]
            store.append([{"generator": spec.generator, "nodes": spec.nodes, "sample": i,
                           "accuracy": f"{accuracy:.6f}"}])
            print(f"short {epochs}: {i + 1}/{args.samples} {accuracy:.3f}", flush=True)
    return {(r["generator"], int(r["nodes"]), int(r["sample"])): float(r["accuracy"])
            for r in read_rows(path, numeric=("accuracy",))}


def report(rows: list[dict], short: dict | None = None) -> None:
    from scipy.stats import kendalltau

    full = [float(r[EPOCH_COLUMNS[-1]]) for r in rows]
    print(f"{len(rows)} architectures; Kendall τ (tau-b) against accuracy after {FULL_EPOCHS} epochs:")
    for epochs in range(1, FULL_EPOCHS):
        tau = kendalltau([float(r[EPOCH_COLUMNS[epochs - 1]]) for r in rows], full).statistic
        print(f"  proxy {epochs} epoch{'s' if epochs > 1 else ''}: τ = {tau:.3f}")
    if short:
        keyed = [short[(r["generator"], int(r["nodes"]), int(r["sample"]))] for r in rows]
        print(f"  short schedule, own run: τ = {kendalltau(keyed, full).statistic:.3f}")
    print(f"  parameter count (zero cost): τ = {kendalltau([float(r['params']) for r in rows], full).statistic:.3f}")


if __name__ == "__main__":
    main()
