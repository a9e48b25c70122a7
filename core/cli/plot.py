"""``parawire plot STUDY.csv``: every figure of the paper's study, and the reproduction report.

Figures go to ``--out`` as PNG and SVG (Fig. 7–12 and Table 4). ``--report PATH`` also
writes the Markdown reproduction report with the figures linked relative to it. Study
metadata (the config, wall time and samples computed) is read from ``--meta`` or, when
present, the sidecar ``STUDY.meta.json``; without it the report infers the grid from
the table and says that the speed was not recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from parawire.errors import ParawireError

#: An input file the command reads: it must exist and not be a folder.
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def read_meta(path: Path | None, study: Path) -> dict | None:
    path = path or study.with_suffix(".meta.json")
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ParawireError(f"--meta {path}: not readable JSON ({exc}); fix or remove it") from None


@click.command()
@click.argument("study", type=EXISTING_FILE)
@click.option(
    "--params",
    "params_path",
    type=EXISTING_FILE,
    help="CSV or JSON of `parawire study params` for Table 4 [default: the grid's params]",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("docs/figures"),
    show_default=True,
    help="folder for the PNG and SVG files",
)
@click.option(
    "--arch",
    "arch_path",
    type=EXISTING_FILE,
    help="spec (JSON/TOML) drawn in Fig. 11 [default: DP's median-depth sample]",
)
@click.option(
    "--units",
    multiple=True,
    type=click.IntRange(min=1),
    default=(2, 4, 8),
    show_default=True,
    help="unit counts drawn in Fig. 11 (repeatable)",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="also write the reproduction report (Markdown) here",
)
@click.option(
    "--meta",
    "meta_path",
    type=EXISTING_FILE,
    help="study metadata JSON {config, seconds, samples} [default: STUDY.meta.json]",
)
def plot(study, params_path, out, arch_path, units, report_path, meta_path) -> None:
    """Draw Fig. 7–12 and Table 4 from a study table; optionally write the report."""
    from parawire.architecture import build_architecture
    from parawire.spec import ArchitectureSpec
    from parawire.study import plots
    from parawire.study.config import StudyConfig
    from parawire.study.store import read_rows
    from rich.console import Console

    rows = read_rows(study)
    if not rows:
        raise ParawireError(f"{study}: no rows; run `parawire study grid --out {study}` first")
    meta = read_meta(meta_path, study)
    config = StudyConfig.model_validate(meta["config"]) if meta and "config" in meta else None
    staging = config.staging if config else "probabilistic"
    params = (
        plots.load_params(params_path) if params_path else plots.params_from_grid(rows, staging)
    )
    arch = build_architecture(ArchitectureSpec.load(arch_path)) if arch_path else None
    figures = plots.all_figures(rows, out, params=params, arch=arch, units=units, config=config)
    console = Console()
    for paths in figures.values():
        console.print("wrote " + ", ".join(str(p) for p in paths))
    if report_path:
        from parawire.study.report import write_report

        command = " ".join([
            "parawire plot", str(study),
            *(["--params", str(params_path)] if params_path else []),
            *(["--arch", str(arch_path)] if arch_path else []),
            *(["--meta", str(meta_path)] if meta_path else []),
            *[f"--units {u}" for u in units],
            "--out", str(out), "--report", str(report_path),
        ])
        write_report(report_path, rows, figures, str(study), params, meta, command)
        console.print(f"wrote {report_path}")
