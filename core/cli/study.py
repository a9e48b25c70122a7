"""``parawire study``: the paper's studies, one subcommand each.

The grid study (issue 5) runs when no subcommand is given; ``params`` (Table 4) and
``accuracy`` (Tables 5/6) are subcommands in their own modules.
"""

from __future__ import annotations

import click
from parawire.cli.lazy import LazyGroup

SUBCOMMANDS = {
    "params": "parawire.cli.study_params:params",
    "accuracy": "parawire.cli.study_accuracy:accuracy",
    "grid": "parawire.cli.study_grid:grid",
}


@click.group(cls=LazyGroup, lazy=SUBCOMMANDS)
def study() -> None:
    """Reproduce the paper's studies (grid, params, accuracy)."""
