"""``parawire study``: the paper's studies, one subcommand each.

``grid`` (the §4 grid, Fig. 7–12), ``params`` (Table 4) and ``accuracy`` (Tables 5/6)
are subcommands, each in its own module and imported only when named; without one the
group prints its help.
"""

from __future__ import annotations

import click
from parawire.cli.lazy import LazyGroup

SUBCOMMANDS = {
    "params": "parawire.cli.study_params:params",
    "accuracy": "parawire.cli.study_accuracy:accuracy",
    "grid": "parawire.cli.study_grid:grid",
}


#: See ``parawire.cli.SUMMARIES``.
SUMMARIES = {
    "params": "Mean and std of parameter counts per generator × staging (Table 4).",
    "accuracy": "Train sampled architectures per generator and staging; mean/best top-1 beside baselines.",
    "grid": "Sample, score and time the paper's grid; rerun to resume an interrupted study.",
}


@click.group(cls=LazyGroup, lazy=SUBCOMMANDS, summaries=SUMMARIES)
def study() -> None:
    """Reproduce the paper's studies (grid, params, accuracy)."""
