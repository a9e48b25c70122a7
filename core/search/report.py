"""What a search found: its Pareto front, the JSON document, the spec files and the figure.

The front is computed here from the trial records rather than taken from Optuna's
``best_trials``: the same function then ranks the search and the random baseline, and
feasibility (the targets) is applied identically to both. A record is on the front when
it meets every target and no other feasible record is at least as good in every
objective and better in one. The front is sorted by predicted latency, so its first
entry is the answer to "which network should I run on them".
"""

from __future__ import annotations

from pathlib import Path

from parawire.graph.spec import ArchitectureSpec
from parawire.search.settings import SearchSettings

#: Spec files written for the fastest members of the front.
SPEC_FILES = 10


def _costs(record: dict, settings: SearchSettings) -> tuple[float, ...]:
    """The objectives of a record, each to be minimised."""
    sign = {"minimize": 1.0, "maximize": -1.0}
    return tuple(sign[d] * float(record[name] or 0.0) for name, d in settings.objectives())


def pareto(records: list[dict], settings: SearchSettings) -> list[dict]:
    """The feasible, non-dominated records, fastest first (ties: fewer parameters)."""
    feasible = [r for r in records if settings.feasible(r)]
    costs = [_costs(r, settings) for r in feasible]
    front = [r for r, c in zip(feasible, costs)
             if not any(all(a <= b for a, b in zip(o, c)) and o != c for o in costs)]
    unique = {(_costs(r, settings), r["params"]): r for r in reversed(front)}  # one per point: the earliest trial
    return sorted(unique.values(), key=lambda r: (r["predicted_ms"], r["params"]))


def entry(record: dict) -> dict:
    """One front member as the JSON document lists it."""
    return {"spec": record["spec"], "predicted_ms": record["predicted_ms"], "accuracy": record["accuracy"],
            "params": record["params"], "flops": record["flops"], "placement": record["placement"],
            "units": record["units"], "input_policy": record["options"]["input_policy"],
            "codec": record.get("codec", "raw"), "trial": record.get("trial")}


def document(records: list[dict], settings: SearchSettings, baseline: dict | None, with_baseline: bool) -> dict:
    """``{"front", "best_predicted_ms", "random_best_predicted_ms", "trials", …}``."""
    front = pareto(records, settings)
    best = front[0]["predicted_ms"] if front else None
    random_best = baseline["predicted_ms"] if baseline else None
    return {
        "front": [entry(r) for r in front],
        "best_predicted_ms": best,
        "random_best_predicted_ms": random_best,
        "trials": sum(not r["invalid"] for r in records),
        "feasible": sum(settings.feasible(r) for r in records),
        "invalid": sum(bool(r["invalid"]) for r in records),
        "profile": settings.profile, "devices": settings.devices,
        "targets": {"max_params": settings.max_params, "max_flops": settings.max_flops,
                    "min_accuracy": settings.min_accuracy},
        "random_best": entry(baseline) if baseline else None,
        "baseline": with_baseline,
        "vs_random": round(random_best / best, 4) if best and random_best else None,
    }


def write_specs(doc: dict, out: Path) -> list[Path]:
    """``best-01.json`` … for the fastest front members (any stale ones removed first)."""
    for old in out.glob("best-*.json"):
        old.unlink()
    paths = []
    for i, item in enumerate(doc["front"][:SPEC_FILES], start=1):
        paths.append(ArchitectureSpec.model_validate(item["spec"]).save(out / f"best-{i:02d}.json"))
    return paths


def plot_front(records: list[dict], doc: dict, settings: SearchSettings, path: Path) -> Path:
    """Latency on K devices against proxy accuracy (or parameters when accuracy is no
    target); every feasible trial in grey, the front coloured by parameters, the random
    baseline's best as a star."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y_name = "accuracy" if settings.min_accuracy is not None else "params"
    feasible = [r for r in records if settings.feasible(r)]
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.scatter([r["predicted_ms"] for r in feasible], [r[y_name] for r in feasible], s=10, c="0.75",
               label=f"feasible trials ({len(feasible)})")
    front = doc["front"]
    if front:
        points = ax.scatter([f["predicted_ms"] for f in front], [f[y_name] for f in front], s=36,
                            c=[f["params"] for f in front], cmap="viridis", label="Pareto front", zorder=3)
        fig.colorbar(points, ax=ax, label="parameters")
    if doc["random_best"]:
        rb = doc["random_best"]
        ax.scatter([rb["predicted_ms"]], [rb[y_name]], marker="*", s=160, c="crimson",
                   label="best of random sampling", zorder=4)
    ax.set_xscale("log")
    ax.set_xlabel(f"predicted latency on {settings.devices} × {settings.profile} (ms)")
    ax.set_ylabel("proxy top-1 on digits" if y_name == "accuracy" else "parameters")
    ax.legend(loc="best", fontsize="small")
    ax.set_title(f"search: {doc['trials']} trials")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def against(doc: dict, other: dict, source: str) -> dict:
    """The design claim, as arithmetic on two finished searches under the same targets:
    ``other`` found the fastest network for its device count (normally one device); the
    answer is the fastest member of this front with no lower accuracy and no more
    parameters than that network, and how many times faster it is predicted to run here
    than that network runs there."""
    if not other.get("front"):
        return {"source": source, "devices": other.get("devices"), "best_ms": None, "match": None, "speedup": None}
    ref = other["front"][0]
    match = next((f for f in doc["front"] if f["params"] <= ref["params"]
                  and (ref["accuracy"] is None or (f["accuracy"] or 0.0) >= ref["accuracy"])), None)
    return {"source": source, "devices": other["devices"], "best_ms": ref["predicted_ms"],
            "best_accuracy": ref["accuracy"], "best_params": ref["params"], "match": match,
            "speedup": round(ref["predicted_ms"] / match["predicted_ms"], 4) if match else None}
