"""``parawire plugins``: every plugin by kind, what it does, where it comes from (distribution
and version), its parameters, its status.

Status is ``ok``; ``conflict`` when another distribution provides the same name (both
rows are shown, each with the ``distribution:name`` that selects it; the bare name is
ambiguous); or ``failed`` for an entry point that did not load (import error, misspelt
hook, bad records, written for another plugin API), with its one-line reason. The
command itself never fails because of a plugin: it is how a user finds out what is
broken. ``--json`` prints the same as ``{"api_version": "1.0", "plugins": […],
"failures": […]}``, ``api_version`` being the plugin API this parawire provides.

The table is short by default (kind, name, description, status), so it reads at 80
columns; ``-v`` (or ``parawire -v plugins``)
adds the distribution and the parameters, and ``parawire plugins NAME`` shows one
plugin's everything.
"""

from __future__ import annotations

from functools import cache

import click
from parawire.cli.printing import echo_json, json_option, print_table, table
from parawire.cli.verbosity import current
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


def short_table(found: dict):
    out = table("parawire plugins", ["kind", "name", "what it does", "status"], numeric=(),
                fold=("what it does", "status"))
    out.caption = "-v: distributions and parameters; `parawire plugins NAME`: one plugin in full"
    for row in found["plugins"]:
        status = "[green]ok[/]" if row["status"] == "ok" else "[yellow]conflict[/]"
        out.add_row(row["kind"], row["name"], row["summary"], status)
    for failure in found["failures"]:
        out.add_row("?", failure["entry_point"], "-", "[red]failed[/] (-v: why)")
    return out


def long_table(found: dict):
    out = table(f"parawire plugins (plugin API {found['api_version']})",
                ["kind", "name", "description", "from", "parameters", "status"],
                numeric=(), fold=("description", "from", "parameters", "status"))
    for row in found["plugins"]:
        source = f"{row['distribution']} {row['version'] or ''}".strip()
        status = "[green]ok[/]" if row["status"] == "ok" else f"[yellow]{row['status']}[/]"
        out.add_row(row["kind"], row["name"], row["summary"], source, describe_params(row["parameters"]), status)
    for failure in found["failures"]:
        source = f"{failure['distribution']} {failure['version'] or ''}".strip()
        out.add_row("?", failure["entry_point"], "-", source, "-", f"[red]failed[/]: {failure['error']}")
    return out


def show_one(rows: list[dict]) -> None:
    """Every field of the plugins called NAME (one per kind that has it), one per line."""
    for row in rows:
        click.echo(f"{row['name']} ({row['kind']})")
        click.echo(f"  {row['summary']}")
        click.echo(f"  from:   {row['distribution']} {row['version'] or ''}".rstrip())
        click.echo(f"  status: {row['status']}")
        params = row["parameters"]
        click.echo("  parameters:" + ("" if params else " none"))
        for name, default in params.items():
            click.echo(f"    {name} = {default if default == 'required' else repr(default)}")


@click.command()
@click.argument("name", required=False)
@click.option("--kind", type=click.Choice(list(KINDS)), help="list only this kind")
@click.option("-v", "--verbose", is_flag=True, help="also each plugin's distribution and parameters")
@json_option("the plugins")
def plugins(name: str | None, kind: str | None, verbose: bool, as_json: bool) -> None:
    """List every plugin by kind: name, description, distribution and version, parameters."""
    from parawire.errors import ParawireError

    found = listing(kind)
    if name is not None:
        found["plugins"] = [row for row in found["plugins"] if row["name"] == name]
        if not found["plugins"]:
            from parawire.cli.lazy import suggestion

            known = sorted({row["name"] for row in listing(kind)["plugins"]})
            raise ParawireError(f"NAME: no plugin {name!r}{suggestion(name, known)}")
        found["failures"] = []
    if as_json:
        echo_json(found)
    elif name is not None:
        show_one(found["plugins"])
    else:
        print_table(long_table(found) if verbose or current().level > 0 else short_table(found))
