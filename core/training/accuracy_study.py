"""The accuracy study (paper Tables 5/6, Figure 2): train sampled architectures, compare.

For each generator × staging policy, ``samples`` architectures (spec seeds ``seed``,
``seed + 1``, …) are built for the dataset, trained with the same pipeline and scored
with the concurrency score (CS, lower is better) on ``units`` units; the baselines are
trained once beside them. Each finished architecture is appended to a CSV at once
(:class:`parawire.study.store.ResultStore`), so a killed study rerun with the same
``--out`` skips what is done and loses at most the architecture in training.

The store keys rows by ``(generator, nodes, sample)``; the ``generator`` column therefore
holds the row's *label* — ``dp/probabilistic`` for a generated architecture, the plain
name for a baseline — and ``family`` and ``staging`` repeat its parts for readers.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import mean

from parawire.graph.spec import ArchitectureSpec
from parawire.network.threads import torch_threads
from parawire.registry.manager import get_plugins
from parawire.study.store import ResultStore, read_rows
from parawire.training.baselines import build_baseline, count_params
from parawire.training.datasets import fit_spec, load_dataset
from parawire.training.schedule import parse_schedule
from parawire.training.trainer import train

COLUMNS = (
    "generator", "family", "staging", "nodes", "sample", "seed", "params", "accuracy", "cs",
    "epochs", "seconds",
)


@dataclass(frozen=True)
class StudyConfig:
    """Everything that fixes the study's rows (change any of it → use another ``--out``)."""

    dataset: str = "digits"
    generators: tuple[str, ...] = ("er", "ba", "ws", "dp")
    stagings: tuple[str, ...] = ("probabilistic",)
    baselines: tuple[str, ...] = ("cifarnet", "resnet")
    samples: int = 10
    epochs: int = 5
    nodes: int = 40
    base_channels: int = 8
    channel_cap: int = 64
    aggregation: str | None = None  # None: the spec's default
    schedule: str | None = None  # None: the trainer's default for ``epochs``
    batch_size: int = 64
    units: int = 4
    seed: int = 0


@dataclass(frozen=True)
class Job:
    label: str
    family: str
    staging: str
    nodes: int
    sample: int
    seed: int


def jobs(config: StudyConfig) -> Iterator[Job]:
    """Baselines first (they anchor the table), then generator × staging × sample."""
    for name in config.baselines:
        yield Job(name, name, "-", 0, 0, config.seed)
    for generator in config.generators:
        for staging in config.stagings:
            for i in range(config.samples):
                yield Job(f"{generator}/{staging}", generator, staging, config.nodes, i, config.seed + i)


def spec_for(job: Job, config: StudyConfig) -> ArchitectureSpec:
    """A job's architecture. Its plugins are selected with ``own()``: the config's default
    names are parawire's own, which a third party's plugin of the same name must not make
    ambiguous (``parawire study accuracy`` refuses a clashing name the user typed first)."""
    plugins = get_plugins()
    fields = {
        "generator": plugins.generators.own(job.family), "staging": plugins.staging.own(job.staging),
        "nodes": job.nodes, "seed": job.seed,
        "base_channels": config.base_channels, "channel_cap": config.channel_cap,
    }
    if config.aggregation is not None:
        fields["aggregation"] = config.aggregation
    return ArchitectureSpec.parse(fields, source="study accuracy")


def concurrency_score(arch, units: int) -> float:
    """The best (lowest) CS over the ε sweep on ``units`` units."""
    from parawire.pipeline.score import score_architecture

    return min(row.score for row in score_architecture(arch, units=[units]))


def run_job(job: Job, config: StudyConfig, data, on_batch=None) -> dict[str, object]:
    """Build, train and score one architecture (or baseline); one CSV row.

    ``on_batch(images_done, images_total)`` follows the training (progress displays)."""
    info = data[2]
    if job.staging == "-":
        model, cs = build_baseline(job.family, info.input_shape, info.classes, seed=job.seed), ""
    else:
        from parawire.network.nn import build_network
        from parawire.pipeline.build import build_architecture

        spec, _ = fit_spec(spec_for(job, config), info)
        arch = build_architecture(spec)
        model, cs = build_network(arch), f"{concurrency_score(arch, config.units):.6g}"
    began = time.perf_counter()
    result = train(
        model, data, config.epochs, parse_schedule(config.schedule, config.epochs),
        seed=job.seed, batch_size=config.batch_size, on_batch=on_batch,
    )
    return {
        "generator": job.label, "family": job.family, "staging": job.staging, "nodes": job.nodes,
        "sample": job.sample, "seed": job.seed, "params": count_params(model),
        "accuracy": f"{result.accuracy:.6f}", "cs": cs, "epochs": config.epochs,
        "seconds": f"{time.perf_counter() - began:.2f}",
    }


def fingerprint(config: StudyConfig) -> dict[str, object]:
    """Every setting that changes a row (which jobs exist is not one of them)."""
    which_rows = {"generators", "stagings", "baselines", "samples"}
    return {k: v for k, v in asdict(config).items() if k not in which_rows}


def run_study(
    config: StudyConfig, out: str | Path, threads: int = 1,
    on_row: Callable[[dict[str, object], int, int], None] | None = None, data=None,
    on_start: Callable[[Job, int, int], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[dict[str, str]]:
    """Run every job not yet in ``out``; return all rows of ``out``.

    ``data`` is a loaded (train, test, info) to use instead of ``config.dataset``
    (tests pass a small slice of digits). Progress displays get ``on_start(job, n,
    todo)`` before the n-th of the ``todo`` jobs left, ``on_batch`` during its training
    and ``on_row(row, n, todo)`` after it. A table made with another
    :func:`fingerprint` is refused.

    ``threads`` sets torch's intra-op threads for the run: these networks are small, and
    one thread per process is faster than two that spin against other work on the host.
    """
    store = ResultStore.open(out, COLUMNS, settings=fingerprint(config))
    todo = [j for j in jobs(config) if (j.label, j.nodes, j.sample) not in store.done]
    with torch_threads(threads):
        if todo and data is None:
            data = load_dataset(config.dataset)
        for n, job in enumerate(todo, 1):
            if on_start is not None:
                on_start(job, n, len(todo))
            row = run_job(job, config, data, on_batch)
            store.append([row])
            if on_row is not None:
                on_row(row, n, len(todo))
    return read_rows(out)


@dataclass(frozen=True)
class Summary:
    """One line of Table 5/6: accuracy in %, accuracy per million parameters."""

    label: str
    n: int
    mean_params_m: float
    mean_acc: float
    best_acc: float
    mean_acc_per_mparam: float
    best_acc_per_mparam: float
    mean_cs: float | None


def summarise(rows: list[dict[str, str]]) -> list[Summary]:
    """Per label: baselines first, then generated architectures, each alphabetically."""
    groups: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        groups.setdefault(row["generator"], []).append(row)
    out = []
    for label, group in groups.items():
        acc = [100 * float(r["accuracy"]) for r in group]
        per = [a / (int(r["params"]) / 1e6) for a, r in zip(acc, group)]
        cs = [float(r["cs"]) for r in group if r["cs"]]
        out.append(Summary(
            label, len(group), mean(int(r["params"]) for r in group) / 1e6, mean(acc), max(acc),
            mean(per), max(per), mean(cs) if cs else None,
        ))
    return sorted(out, key=lambda s: (s.mean_cs is not None, s.label))


def scatter(rows: list[dict[str, str]], path: str | Path, title: str) -> Path:
    """Accuracy against concurrency score (paper Fig. 2), baselines as dashed lines.

    Colour = generator, marker = staging policy, so the two factors read apart.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 4.6))
    generated = [r for r in rows if r["cs"]]
    families = list(dict.fromkeys(r["family"] for r in generated))
    stagings = list(dict.fromkeys(r["staging"] for r in generated))
    colours = plt.get_cmap("tab10" if len(families) <= 10 else "tab20")
    markers = "o^sDvP*X"
    for label in dict.fromkeys(r["generator"] for r in generated):
        group = [r for r in generated if r["generator"] == label]
        ax.scatter(
            [float(r["cs"]) for r in group], [100 * float(r["accuracy"]) for r in group],
            label=label, s=20, alpha=0.8, color=colours(families.index(group[0]["family"])),
            marker=markers[stagings.index(group[0]["staging"]) % len(markers)],
        )
    baselines = [r for r in rows if not r["cs"]]
    for r, style in zip(baselines, itertools.cycle(["--", ":", "-."])):
        ax.axhline(100 * float(r["accuracy"]), linestyle=style, linewidth=1, color="black",
                   label=f"{r['generator']} (baseline)")
    ax.set_xlabel("concurrency score (lower = more concurrent)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
