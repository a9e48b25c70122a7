"""What a worker's engine call costs, fitted on every task the recorded testbed runs timed.

Each point that ``parawire testbed run --json`` records holds, per unit, the thread-CPU
milliseconds of each task (one engine call: a vertex, or a fused run of them), its calls
per inference and the model's compute for its vertices (``model_ms``). This fits, by
least squares over all of them, task CPU = a · model_ms + b · calls + c · MB read +
d · MB written, where the bytes are what the call converts at its boundary: the tensors
its run reads from outside it (the image for the input vertex) and the outputs that leave
it. It prints the fit with and without the bytes, and the median relative error of each
(docs/testbed.md, issue 28's sixth round).

    .venv/bin/python benchmarks/testbed_task_fit.py docs/figures/testbed_*.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from testbed_resimulate import arch_of, rows


def task_table(paths: list[Path], main_spec) -> np.ndarray:  # type: ignore[no-untyped-def]
    """[model_ms, calls, MB read, MB written, devices, cpu_ms] per recorded untiled task
    with ONNX Runtime (imported models' rows are skipped: their tasks are blocks)."""
    from parawire.score.hypergraph import image_bytes

    out = []
    for path in paths:
        try:
            found = rows(path)
        except ValueError:
            continue  # a figure of another kind among the testbed files
        for row in found:
            if row.get("engine") != "onnxruntime" or "model" in row["arch"]:
                continue
            arch = arch_of(row, main_spec)
            size, dag, image = arch.costs.out_bytes, arch.dag, image_bytes(arch)
            for point in row["points"]:
                if point.get("tiling") or point.get("codec", "raw") != "raw":
                    continue
                for unit in point.get("units", []):
                    for task in unit["tasks"]:
                        run = set(task["vertices"])
                        if task["model_ms"] is None or max(run) >= len(size):
                            continue
                        read = sum(int(size[p]) for p in {p for v in run for p in dag.preds[v]} - run)
                        read += image * (dag.input in run)
                        written = sum(int(size[v]) for v in run
                                      if v == dag.output or any(w not in run for w in dag.succs[v]))
                        out.append([task["model_ms"], task["calls"], read / 1e6, written / 1e6,
                                    point["devices"], task["cpu_ms"]])
    return np.array(out, dtype=np.float64).reshape(-1, 6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="recorded testbed JSON files")
    parser.add_argument("--main-spec", type=Path, default=Path("results/demo/most-concurrent.json"),
                        help="the spec of rows recorded from a spec file (the main job's by default)")
    args = parser.parse_args()
    from parawire.graph.spec import ArchitectureSpec

    main_spec = (ArchitectureSpec.model_validate_json(args.main_spec.read_text())
                 if args.main_spec.exists() else None)
    table = task_table(args.files, main_spec)
    if not len(table):
        parser.error("no recorded task in these files; give files that `parawire testbed run --json` or"
                     " benchmarks/testbed_figure13.py wrote")
    cpu, one = table[:, 5], table[:, 4] == 1
    print(f"{len(table)} tasks ({one.sum()} on one device)")
    for name, columns in (("compute + calls", [0, 1]), ("compute + calls + bytes", [0, 1, 2, 3])):
        coef, *_ = np.linalg.lstsq(table[:, columns], cpu, rcond=None)
        error = np.abs(table[:, columns] @ coef / cpu - 1)
        terms = ", ".join(f"{c:.3g} {unit}" for c, unit in zip(coef, ("× model", "ms/call", "ms/MB read",
                                                                        "ms/MB written")))
        print(f"{name}: {terms}; median error {np.median(error):.1%} (one device {np.median(error[one]):.1%},"
              f" split {np.median(error[~one]):.1%})")


if __name__ == "__main__":
    main()
