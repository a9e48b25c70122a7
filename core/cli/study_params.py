"""``parawire study params``: the paper's parameter-stability study (Table 4).

For every generator × staging policy, ``--samples`` architectures (seeds ``--seed`` …
``--seed + samples − 1``) of ``--nodes`` blocks at the Flower-102 shape (3×224×224,
102 classes) are built without torch (:func:`parawire.pipeline.build.build_architecture`)
and their parameter counts summarised: mean and sample standard deviation, in millions.
Samples run in a process pool in chunks, so pool overhead stays small next to the
~1–2 ms each architecture costs.
"""

from __future__ import annotations

import csv
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import click
from parawire.cli.options import MAX_PROCESSES, own_default, plugin_names
from parawire.cli.outputs import RESULTS, OutputFile, prepare
from parawire.cli.printing import echo_json, json_option, print_table, table
from parawire.study.config import MAX_SAMPLES

FLOWER102 = {"input_shape": (3, 224, 224), "classes": 102}
CHUNK = 50


@dataclass(frozen=True)
class Row:
    generator: str
    staging: str
    samples: int
    nodes: int
    mean_params_m: float
    std_params_m: float
    min_params_m: float
    max_params_m: float


def sample_params(generator: str, staging: str, seeds: list[int], settings: dict) -> list[int]:
    """Parameter counts of the architectures with these seeds (one pool task)."""
    from parawire.graph.spec import ArchitectureSpec
    from parawire.pipeline.build import build_architecture

    return [
        build_architecture(
            ArchitectureSpec(generator=generator, staging=staging, seed=s, **settings)
        ).costs.total_params
        for s in seeds
    ]


def summarise(generator: str, staging: str, counts: list[int], nodes: int) -> Row:
    import numpy as np

    m = np.asarray(counts, dtype=np.float64) / 1e6
    return Row(
        generator=generator,
        staging=staging,
        samples=len(m),
        nodes=nodes,
        mean_params_m=round(float(m.mean()), 4),
        std_params_m=round(float(m.std(ddof=1)) if len(m) > 1 else 0.0, 4),
        min_params_m=round(float(m.min()), 4),
        max_params_m=round(float(m.max()), 4),
    )


def run_study(
    generators: list[str],
    stagings: list[str],
    seeds: range,
    settings: dict,
    workers: int,
    progress=None,
) -> list[Row]:
    """Every generator × staging over ``seeds``; ``progress(n)`` is told of each chunk."""
    cells = [(g, s) for g in generators for s in stagings]
    tasks = [
        (g, s, list(seeds[i : i + CHUNK])) for g, s in cells for i in range(0, len(seeds), CHUNK)
    ]
    results: list[list[int]] = [[] for _ in tasks]  # kept in task order: same sums either way
    if workers <= 1:
        for i, (g, s, chunk) in enumerate(tasks):
            results[i] = sample_params(g, s, chunk, settings)
            if progress:
                progress(len(chunk))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(sample_params, *task, settings): i for i, task in enumerate(tasks)}
            for future in as_completed(futures):
                i = futures[future]
                results[i] = future.result()
                if progress:
                    progress(len(tasks[i][2]))
    counts: dict[tuple[str, str], list[int]] = {cell: [] for cell in cells}
    for (g, s, _), result in zip(tasks, results):
        counts[g, s] += result
    return [summarise(g, s, counts[g, s], settings["nodes"]) for g, s in cells]


def split_names(values: tuple[str, ...]) -> list[str]:
    """``--x a --x b`` and ``--x a,b`` both give ``[a, b]``."""
    return [name for value in values for name in value.split(",") if name]


def render(rows: list[Row]):
    out = table("Parameter size (millions), paper Table 4",
                ["generator", "staging", "samples", "mean", "std", "min", "max"],
                numeric=["samples", "mean", "std", "min", "max"])
    for r in rows:
        out.add_row(
            r.generator, r.staging, str(r.samples), f"{r.mean_params_m:.2f}",
            f"{r.std_params_m:.2f}", f"{r.min_params_m:.2f}", f"{r.max_params_m:.2f}",
        )
    return out


def write_rows(path: Path, rows: list[Row], settings: dict) -> None:
    """CSV (the rows) or JSON (``{"settings", "rows"}``), by the file's extension."""
    prepare(path)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps({"settings": settings, "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
        return
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)


@click.command()
@click.option("--samples", default=1000, show_default=True, type=click.IntRange(1, MAX_SAMPLES))
@click.option("--nodes", "-n", default=40, show_default=True, type=click.IntRange(2, 5000))
@click.option("--generators", multiple=True, help="names, repeated or comma-separated  [default: all]",
              shell_complete=plugin_names("generators"))
@click.option(
    "--staging", "stagings", multiple=True, default=("greedy", "probabilistic"),
    show_default=True, help="staging policies, repeated or comma-separated", callback=own_default("staging"),
    shell_complete=plugin_names("staging"),
)
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0), help="first seed")
@click.option("--base-channels", type=click.IntRange(1), help="override the spec default")
@click.option("--channel-cap", type=click.IntRange(1), help="override the spec default")
@click.option("--workers", default=os.cpu_count() or 1, show_default=True, type=click.IntRange(1, MAX_PROCESSES))
@click.option("--out", "outputs", multiple=True, type=OutputFile((".csv", ".json")),
              default=(RESULTS / "params.csv",), show_default=True,
              help="table file, .csv or .json by its extension (repeatable)")
@json_option("the rows and settings")
def params(
    samples, nodes, generators, stagings, seed, base_channels, channel_cap, workers, outputs, as_json,
) -> None:
    """Mean and std of parameter counts per generator × staging (Table 4)."""
    from parawire.cli.progress import Progress
    from parawire.graph.spec import ArchitectureSpec
    from parawire.registry.manager import get_plugins

    plugins = get_plugins()
    generators = split_names(generators) or plugins.generators.names()
    stagings = split_names(stagings)
    for name in generators:
        plugins.generators.get(name)
    for name in stagings:
        plugins.staging.get(name)
    settings = {"nodes": nodes, **FLOWER102}
    overrides = {"base_channels": base_channels, "channel_cap": channel_cap}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    spec = ArchitectureSpec.parse(settings, source="study params")  # fail before the pool starts

    total = samples * len(generators) * len(stagings)
    with Progress() as progress, progress.bar("architectures", total, "built") as bar:
        rows = run_study(
            generators, stagings, range(seed, seed + samples), settings, workers, progress=bar.advance,
        )
    meta = {
        "samples": samples, "first_seed": seed, "nodes": nodes,
        "input_shape": list(spec.input_shape), "classes": spec.classes,
        "base_channels": spec.base_channels, "channel_cap": spec.channel_cap,
    }
    for path in outputs:
        write_rows(path, rows, meta)
    if as_json:
        echo_json({"settings": meta, "rows": rows, "outputs": outputs})
        return
    print_table(render(rows))
    for path in outputs:
        click.echo(f"wrote {path}")
