"""``parawire plugins``: every plugin by kind, what it does, where it comes from, its parameters.

Distributions that failed to load are listed after the working plugins with their
error, so a broken install is visible here rather than only when a plugin is selected.
``--json`` prints the same as ``{"plugins": […], "failures": […]}``.
"""

from __future__ import annotations

from functools import cache

import click
from parawire.cli.printing import echo_json, json_option, print_table
from parawire.records import KINDS


@cache
def version_of(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def param_defaults(model) -> dict:
    """``{name: default}`` of a plugin's parameter model (``"required"`` when it has none)."""
    return {
        name: ("required" if field.is_required() else field.get_default(call_default_factory=True))
        for name, field in model.model_fields.items()
    }


def describe_params(defaults: dict) -> str:
    """``name=default`` for each parameter (see :func:`param_defaults`)."""
    parts = [f"{name}={value if value == 'required' else repr(value)}" for name, value in defaults.items()]
    return ", ".join(parts) or "-"


def listing(kind: str | None) -> dict:
    """What ``--json`` prints; the table shows the same."""
    from parawire.manager import get_plugins

    registries = get_plugins()
    rows = [
        {
            "kind": kind_name,
            "name": record.name,
            "summary": record.summary,
            "distribution": registry.providers[record.name],
            "version": version_of(registry.providers[record.name]),
            "parameters": param_defaults(record.params),
            "status": "ok",
        }
        for kind_name, registry in registries.kinds().items()
        if kind in (None, kind_name)
        for record in registry
    ]
    failures = [
        {
            "entry_point": failure.entry_point,
            "distribution": failure.distribution,
            "version": version_of(failure.distribution),
            "error": failure.describe(),
        }
        for failure in registries.failures
    ]
    return {"plugins": rows, "failures": failures}


@click.command()
@click.option("--kind", type=click.Choice(list(KINDS)), help="list only this kind")
@json_option("the plugins")
def plugins(kind: str | None, as_json: bool) -> None:
    """List every plugin by kind: name, description, distribution and version, parameters."""
    from parawire.cli.printing import table

    found = listing(kind)
    if as_json:
        echo_json(found)
        return
    out = table("parawire plugins", ["kind", "name", "description", "from", "parameters"], numeric=(),
                fold=("description", "from", "parameters"))
    for row in found["plugins"]:
        source = f"{row['distribution']} {row['version'] or ''}".strip()
        out.add_row(row["kind"], row["name"], row["summary"], source,
                    describe_params(row["parameters"]))
    for failure in found["failures"]:
        source = f"{failure['distribution']} {failure['version'] or ''}".strip()
        out.add_row("?", failure["entry_point"], f"[red]failed to load[/]: {failure['error']}", source, "-")
    print_table(out)
