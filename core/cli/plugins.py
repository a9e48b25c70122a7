"""``parawire plugins``: every plugin by kind, where it comes from, its parameters."""

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
        for record in registry:
            table.add_row(
                kind_name,
                record.name,
                registry.providers[record.name],
                describe_params(record.params),
                "[green]ok[/]",
            )
    for failure in registries.failures:
        table.add_row(
            "?",
            failure.entry_point,
            failure.distribution,
            "-",
            f"[red]failed[/]: {failure.describe()}",
        )
    Console().print(table)
