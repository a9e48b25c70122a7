"""``parawire plugins``: every plugin by kind, where it comes from, its parameters, status.

Status is ``ok``; ``conflict`` when another distribution provides the same name (both
rows are shown, each with the ``distribution:name`` that selects it; the bare name is
ambiguous); or ``failed`` for an entry point that did not load (import error, misspelt
hook, bad records), with its one-line reason. The command itself never fails because
of a plugin: it is how a user finds out what is broken.
"""

from __future__ import annotations

import click
from parawire.manager import get_plugins
from parawire.records import KINDS
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table


def describe_params(model: type[BaseModel]) -> str:
    """``name=default`` for each field of a plugin's parameter model."""
    parts = []
    for name, field in model.model_fields.items():
        default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
        parts.append(f"{name}={default}")
    return ", ".join(parts) or "-"


@click.command()
@click.option("--kind", type=click.Choice(list(KINDS)))
def plugins(kind: str | None) -> None:
    """List every plugin by kind: name, distribution, parameters, status."""
    registries = get_plugins()
    table = Table(title="parawire plugins")
    for column in ("kind", "name", "distribution", "parameters", "status"):
        table.add_column(column)
    for kind_name, registry in registries.kinds().items():
        if kind and kind != kind_name:
            continue
        conflicts = registry.conflicts()
        for record in registry:
            if record.name in conflicts:
                others = ", ".join(d for d in conflicts[record.name] if d != record.distribution)
                status = f"[yellow]conflict[/]: also in {others}; select as {record.distribution}:{record.name}"
            else:
                status = "[green]ok[/]"
            table.add_row(kind_name, record.name, record.distribution, describe_params(record.params), status)
    for failure in registries.failures:
        table.add_row("?", failure.entry_point, failure.distribution, "-", f"[red]failed[/]: {failure.describe()}")
    console = Console()
    if not console.is_terminal:  # rich would squeeze piped output into 80 columns
        console = Console(width=200)
    console.print(table)
