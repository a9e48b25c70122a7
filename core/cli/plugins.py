"""``parawire plugins``: every plugin by kind, what it does, where it comes from (distribution
and version), its parameters, its status.

Status is ``ok``; ``conflict`` when another distribution provides the same name (both
rows are shown, each with the ``distribution:name`` that selects it; the bare name is
ambiguous); or ``failed`` for an entry point that did not load (import error, misspelt
hook, bad records, written for another plugin API), with its one-line reason. The
command itself never fails because of a plugin: it is how a user finds out what is
broken. ``--json`` prints the same as ``{"api_version": "1.0", "plugins": […],
"failures": […]}``, ``api_version`` being the plugin API this parawire provides.
"""

from __future__ import annotations

from functools import cache

import click
from parawire.cli.printing import echo_json, json_option, print_table
from parawire.registry.records import API_VERSION, KINDS


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
    from parawire.registry.manager import get_plugins

    registries = get_plugins()
    rows = []
    for kind_name, registry in registries.kinds().items():
        if kind not in (None, kind_name):
            continue
        conflicts = registry.conflicts()
        for record in registry:
            status = "ok"
            if record.name in conflicts:
                others = ", ".join(d for d in conflicts[record.name] if d != record.distribution)
                status = f"conflict: also in {others}; select as {record.distribution}:{record.name}"
            rows.append({
                "kind": kind_name,
                "name": record.name,
                "summary": record.summary,
                "distribution": record.distribution,
                "version": version_of(record.distribution),
                "parameters": param_defaults(record.params),
                "status": status,
            })
    failures = [
        {
            "entry_point": failure.entry_point,
            "distribution": failure.distribution,
            "version": version_of(failure.distribution),
            "error": failure.describe(),
        }
        for failure in registries.failures
    ]
    return {"api_version": API_VERSION, "plugins": rows, "failures": failures}


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
    out = table(f"parawire plugins (plugin API {found['api_version']})", ["kind", "name", "description", "from", "parameters", "status"],
                numeric=(), fold=("description", "from", "parameters", "status"))
    for row in found["plugins"]:
        source = f"{row['distribution']} {row['version'] or ''}".strip()
        status = "[green]ok[/]" if row["status"] == "ok" else f"[yellow]{row['status']}[/]"
        out.add_row(row["kind"], row["name"], row["summary"], source, describe_params(row["parameters"]), status)
    for failure in found["failures"]:
        source = f"{failure['distribution']} {failure['version'] or ''}".strip()
        out.add_row("?", failure["entry_point"], "-", source, "-", f"[red]failed[/]: {failure['error']}")
    print_table(out)
