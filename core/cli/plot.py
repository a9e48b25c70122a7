"""``parawire plot STUDY.csv``: every figure of the paper's study, and the reproduction report.

Figures go to ``--out`` as PNG and SVG (Fig. 7–12 and Table 4); by default into a folder
beside the table (``results/study.csv`` → ``results/study-figures/``), never into the
repository's documentation. ``--report PATH`` also writes the Markdown reproduction
report with the figures linked relative to it. Study metadata (the config, wall time
and samples computed) is read from ``--meta`` or, when present, the table's sidecar
``STUDY.meta.json``; without it the report infers the grid from the table and says that
the speed was not recorded. The table is checked to be a study grid's before anything
is drawn, and each figure is announced as it is drawn.
"""

from __future__ import annotations

from pathlib import Path

import click
from parawire.cli.outputs import OutputDir, OutputFile, check_output
from parawire.errors import ParawireError

#: An input file the command reads: it must exist and not be a folder.
EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def check_study(study: Path) -> Path:
    """The table exists; if not, name the study tables beside it (``study grid --quick``
    writes ``study-quick.csv``, so a reader who plots ``study.csv`` learns where it went)."""
    if study.is_file():
        return study
    if study.is_dir():
        raise ParawireError(f"STUDY {study}: is a folder; give a study table (.csv)")
    from parawire.study.store import meta_path

    folder = study.parent if study.parent.is_dir() else Path(".")
    tables = sorted(str(p) for p in folder.glob("*.csv") if meta_path(p).exists())
    hint = (f"; the study tables there: {', '.join(tables)}" if tables
            else "; make one with `parawire study grid --quick` (writes results/study-quick.csv)")
    raise ParawireError(f"STUDY {study}: does not exist{hint}")


def default_out(study: Path) -> Path:
    """Figures of ``results/study.csv`` go to ``results/study-figures``."""
    return study.with_name(f"{study.stem}-figures")


def read_meta(path: Path | None, study: Path) -> dict | None:
    """``--meta`` when given, else the table's sidecar; None when there is neither."""
    import json

    from parawire.study.store import meta_path
    from parawire.study.store import read_meta as sidecar

    if path is None:
        return sidecar(study) if meta_path(study).exists() else None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParawireError(f"--meta {path}: not readable JSON ({exc}); fix or remove it") from None


def study_config(meta: dict | None, source: str):
    """The study's config recorded in its metadata, or None when it was not recorded."""
    from parawire.errors import SpecError, describe_validation_error
    from parawire.study.config import StudyConfig
    from pydantic import ValidationError

    if not meta or "config" not in meta:
        return None
    try:
        return StudyConfig.model_validate(meta["config"])
    except ValidationError as exc:
        raise SpecError(f"{source}: config: {describe_validation_error(exc)}") from None


@click.command(short_help="Draw Fig. 7–12 and Table 4 from a study table; optionally the report.")
@click.argument("study", type=click.Path(path_type=Path))
@click.option(
    "--params",
    "params_path",
    type=EXISTING_FILE,
    help="CSV or JSON of `parawire study params` for Table 4 [default: the grid's params]",
)
@click.option("--out", type=OutputDir(),
              help="folder for the PNG and SVG files  [default: STUDY-figures beside it]")
@click.option(
    "--arch",
    "arch_path",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
    help="spec (JSON/TOML; - for one on stdin) drawn in Fig. 11 [default: DP's median-depth sample]",
)
@click.option(
    "--units",
    "-u",
    multiple=True,
    type=click.IntRange(min=1),
    default=(2, 4, 8),
    show_default=True,
    help="unit counts drawn in Fig. 11 (repeatable)",
)
@click.option(
    "--report",
    "report_path",
    type=OutputFile((".md",)),
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
    from parawire.cli.progress import Progress
    from parawire.study import plots
    from parawire.study.sample import COLUMNS
    from parawire.study.store import read_rows

    study = check_study(study)
    out = out or check_output(default_out(study), "--out", folder=True)
    given_params = plots.load_params(params_path) if params_path else None
    rows = read_rows(study, columns=COLUMNS, numeric=[c for c in COLUMNS if c != "generator"])
    if not rows:
        raise ParawireError(f"{study}: no rows; run `parawire study grid --out {study}` first")
    meta = read_meta(meta_path, study)
    config = study_config(meta, str(meta_path or study))
    with Progress() as progress:
        progress.step("loading the plotting libraries")
        from parawire.cli.inputs import load_spec

        staging = config.staging if config else "probabilistic"
        params = given_params or plots.params_from_grid(rows, staging)
        arch = None
        if arch_path:
            from parawire.pipeline.build import build_architecture

            arch = build_architecture(load_spec(arch_path))
        jobs = plots.figure_jobs(rows, out, params=params, arch=arch, units=units, config=config)
        figures = {}
        with progress.bar("figures", len(jobs), "drawn") as bar:
            for name, job in jobs.items():
                bar.update(bar.completed, text=f"figures ({name})")
                figures[name] = job()
                progress.note("wrote " + ", ".join(str(p) for p in figures[name]))
                bar.advance()
            bar.update(bar.completed, text="figures")
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
            progress.note(f"wrote {report_path}")
