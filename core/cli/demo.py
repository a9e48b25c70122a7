"""``parawire demo``: the README's main job, end to end on the embedded default.

1. the quick study of every generator (resumable table under ``--out``) and its summary;
2. every figure of the study and the reproduction report for it;
3. the most concurrent architecture of the study run on 2 local worker processes
   (default engine, ONNX Runtime), beside what one would run instead: one process with
   torch and with ONNX Runtime on 1 thread and on all threads, the speed-up against the
   best of those, and the latency model.

"Most concurrent" is the sample with the lowest concurrency score at 2 units among the
generated architectures, leaving out the single-chain baseline: a chain's CS is low
only because it barely communicates, while its η says there is nothing to overlap.

``--json`` prints one document at the end (the files written, the chosen sample and
``run --json``'s measurements); the steps' own tables are then not printed.
"""

from __future__ import annotations

import io
import json
from contextlib import nullcontext, redirect_stdout
from pathlib import Path

import click
from parawire.calibration.timing import MAX_TIMED_RUNS
from parawire.cli.outputs import RESULTS, OutputDir
from parawire.cli.printing import echo_json, json_option
from parawire.study.config import MAX_SAMPLES

RUN_UNITS = 2


def most_concurrent(rows: list[dict], units: int = RUN_UNITS) -> dict:
    candidates = [r for r in rows if int(r["units"]) == units and r["generator"] != "chain"]
    if not candidates:
        from parawire.errors import ParawireError

        raise ParawireError(f"the study has no rows for {units} units to choose from")
    return min(candidates, key=lambda r: (float(r["cs"]), r["generator"], int(r["sample"])))


@click.command()
@click.option("--out", type=OutputDir(), default=RESULTS / "demo",
              show_default=True, help="folder for the table, figures, report and chosen spec")
@click.option("--samples", type=click.IntRange(1, MAX_SAMPLES), help="override the quick preset's samples  [default: 20]")
@click.option("--runs", "-r", "runs", type=click.IntRange(1, MAX_TIMED_RUNS), default=20, show_default=True,
              help="timed inferences per configuration")
@json_option("the files written, the chosen architecture and the run's measurements")
@click.pass_context
def demo(ctx: click.Context, out: Path, samples: int | None, runs: int, as_json: bool) -> None:
    """Quick study → figures → the most concurrent architecture on 2 local workers."""
    from parawire.cli.plot import plot
    from parawire.cli.run import run
    from parawire.cli.study_grid import run_grid
    from parawire.study.config import StudyConfig
    from parawire.study.store import read_rows
    from rich.console import Console

    config = StudyConfig.build(quick=True, **({"samples": samples} if samples else {}))
    table, figures, report = out / "study.csv", out / "figures", out / "reproduction.md"
    measured = io.StringIO()
    with redirect_stdout(io.StringIO()) if as_json else nullcontext():  # --json: no step tables
        console = Console()
        console.rule("1. quick study")
        run_grid(config, table)
        console.rule("2. figures and reproduction report")
        ctx.invoke(plot, study=table, out=figures, report_path=report)
        console.rule("3. the most concurrent architecture on 2 local workers")
        best = most_concurrent(read_rows(table))
        spec = config.spec(best["generator"], int(best["nodes"]), int(best["sample"]))
        spec_file = spec.save(out / "most-concurrent.json")
        console.print(
            f"{best['generator']} sample {best['sample']} ({best['nodes']} vertices): CS {float(best['cs']):.3f}"
            f" at {RUN_UNITS} units → {spec_file}"
        )
        with redirect_stdout(measured) if as_json else nullcontext():
            # parsed as a user's command line, so every option's callback (the NAME=VALUE
            # parameter options among them) runs: ctx.invoke would hand them raw defaults
            args = [str(spec_file), "--units", str(RUN_UNITS), "--local", "--runs", str(runs)]
            with run.make_context("run", args + (["--json"] if as_json else []), parent=ctx) as step:
                run.invoke(step)
    if as_json:
        echo_json({"table": table, "figures": figures, "report": report, "spec": spec_file,
                   "chosen": {k: best[k] for k in ("generator", "nodes", "sample", "cs")},
                   "run": json.loads(measured.getvalue())})

