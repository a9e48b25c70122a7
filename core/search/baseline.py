"""The paper's method at the same budget: random samples of each generator, the best kept.

The study's sampler (:meth:`parawire.study.config.StudyConfig.spec`) draws the candidates:
each generator of the grid with its default parameters, the paper's 40 vertices,
probabilistic staging, one derived seed per sample, taken round-robin until there are as
many as the search has trials. Widths are the digits accuracy study's (``base_channels``
8, ``channel_cap`` 64; docs/training.md): the paper fixes a width rather than searching
it, and this is the width at which parawire measured these generators' accuracy. Each is
scored exactly as a search trial is (same profile, devices, placements; the study's
``stem`` input policy, float32 crossings as in the paper), and the best is the fastest predicted that meets the same targets.

Only that best needs an accuracy: candidates within the parameter and FLOP limits are
trained in order of predicted latency until one reaches ``min_accuracy``, so the
baseline costs one latency prediction per sample and a few trainings, not N trainings.
Both steps append to tables under ``--out`` (:class:`~parawire.study.store.ResultStore`),
so an interrupted baseline resumes too.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import as_completed
from pathlib import Path

from parawire.graph.spec import ArchitectureSpec
from parawire.search.executors import open_executor
from parawire.search.objective import evaluate
from parawire.search.proxy import proxy_accuracy
from parawire.search.settings import SearchSettings
from parawire.search.space import Candidate
from parawire.study.config import StudyConfig
from parawire.study.store import ResultStore, read_rows

NODES = 40
WIDTHS = {"base_channels": 8, "channel_cap": 64}
INPUT_POLICY = "stem"
CODEC = "raw"
"""The paper sends float32 activations; its method is the baseline as it was, whatever
codecs the search itself may choose among."""
COLUMNS = ("generator", "nodes", "sample", "seed", "params", "flops", "predicted_ms", "placement", "units")
ACCURACY_COLUMNS = ("generator", "nodes", "sample", "accuracy")


def candidates(settings: SearchSettings, count: int | None = None) -> list[tuple[tuple[str, int, int], Candidate]]:
    """The first ``count`` (default ``settings.trials``) samples, round-robin over the grid's generators."""
    config = StudyConfig(nodes=(NODES,), input_shape=settings.input_shape, classes=settings.classes,
                         seed=settings.seed)
    gens = config.generators
    out = []
    for i in range(settings.trials if count is None else count):
        key = (gens[i % len(gens)], NODES, i // len(gens))
        spec = config.spec(*key).model_copy(update=WIDTHS).model_dump(mode="json")
        out.append((key, Candidate(spec, {"input_policy": INPUT_POLICY, "codec": CODEC})))
    return out


def _store(path: Path, columns, settings: SearchSettings) -> ResultStore:
    return ResultStore.open(path, columns, settings=settings.fingerprint())


def baseline_done(settings: SearchSettings, out: Path) -> int:
    """Samples of the baseline already scored (a progress bar starts there)."""
    done = _store(out / "baseline.csv", COLUMNS, settings).done
    return sum(key in done for key, _ in candidates(settings))


def run_baseline(settings: SearchSettings, out: Path, workers: int | None = None, scheduler: str | None = None,
                 on_sample: Callable[[], None] | None = None) -> dict | None:
    """The best baseline record meeting the targets, or ``None``."""
    latency = _store(out / "baseline.csv", COLUMNS, settings)
    accuracy = _store(out / "baseline-accuracy.csv", ACCURACY_COLUMNS, settings)
    todo = {key: c for key, c in candidates(settings) if key not in latency.done}
    settings_json = settings.model_dump_json()
    with open_executor(workers, scheduler) as (executor, _):
        futures = {executor.submit(evaluate, c.to_json(), settings_json, False): key for key, c in todo.items()}
        for future in as_completed(futures):
            record = future.result()
            key = futures[future]
            row = {**record, "generator": key[0], "nodes": key[1], "sample": key[2], "seed": record["spec"]["seed"]}
            latency.append([{c: row[c] for c in COLUMNS}])
            if on_sample is not None:
                on_sample()
    return _best(settings, out, accuracy)


def _best(settings: SearchSettings, out: Path, accuracy: ResultStore) -> dict | None:
    wanted = {key: c for key, c in candidates(settings)}
    rows = [r for r in read_rows(out / "baseline.csv", numeric=("params", "flops", "predicted_ms"))
            if (r["generator"], int(r["nodes"]), int(r["sample"])) in wanted]
    trained = {(r["generator"], int(r["nodes"]), int(r["sample"])): float(r["accuracy"])
               for r in read_rows(out / "baseline-accuracy.csv", numeric=("accuracy",))}
    for row in sorted(rows, key=lambda r: float(r["predicted_ms"])):
        key = (row["generator"], int(row["nodes"]), int(row["sample"]))
        record = {**wanted[key].to_json(), "params": int(row["params"]), "flops": int(row["flops"]),
                  "predicted_ms": float(row["predicted_ms"]), "placement": row["placement"],
                  "units": int(row["units"]), "codec": CODEC, "accuracy": None, "invalid": None}
        if not settings.within_limits(record):
            continue
        if settings.min_accuracy is not None:
            if key not in trained:
                spec = ArchitectureSpec.model_validate(wanted[key].spec)
                trained[key] = proxy_accuracy(spec, settings.proxy_epochs, settings.dataset)
                accuracy.append([{"generator": key[0], "nodes": key[1], "sample": key[2],
                                  "accuracy": f"{trained[key]:.6f}"}])
            record["accuracy"] = trained[key]
        if settings.feasible(record):
            return record
    return None
