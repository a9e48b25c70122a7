"""``parawire generate`` (spec from options → file) and ``parawire show`` (file → statistics).

``generate`` validates everything (spec fields, the generator's parameters, and what
only the draw can check, such as WS's k < nodes) before it writes anything, so a file
on disk always describes a buildable architecture. Every field of
:class:`~parawire.graph.spec.ArchitectureSpec` has an option, with the spec's own
default and description (a test keeps the two in step), so no spec needs hand-editing;
``-o -`` writes the spec to stdout for a pipe (``… | parawire score - -u 4``).
"""

from __future__ import annotations

import typing
from pathlib import Path

import click
from parawire.cli.inputs import DASH
from parawire.cli.models import load_model, model_options, one_source, show_model
from parawire.cli.options import own_default, plugin_names
from parawire.cli.outputs import OutputFile, prepare
from parawire.cli.params import param_option, parse_params
from parawire.cli.printing import echo_json, json_option, print_table, width_table
from parawire.graph.spec import Aggregation, ArchitectureSpec


def summary(spec, stats):
    """One two-column table: what was asked for, and the shape it produced."""
    from parawire.pipeline.build import generator_params
    from rich.table import Table

    _, params = generator_params(spec)
    table = Table(show_header=False, title=f"{spec.generator} architecture")
    table.add_column(style="bold")
    table.add_column()
    shown = ", ".join(f"{k}={v}" for k, v in params.model_dump().items()) or "-"
    rows = {
        "generator": spec.generator,
        "params": shown,
        "nodes": f"{spec.nodes} (+ input and output = {stats.vertices} DAG vertices)",
        "seed": spec.seed,
        "staging": spec.staging,
        "input": f"{' × '.join(map(str, spec.input_shape))}, {spec.classes} classes",
        "channels": f"{spec.base_channels} after the stem, at most {spec.channel_cap}; {spec.aggregation}",
        "DAG edges": stats.edges,
        "depth": f"{stats.depth} (longest input→output path, in vertices)",
        "max width": stats.max_width,
        "mean width": f"{stats.mean_width:.2f}",
        "components": stats.components,
    }
    for key, value in rows.items():
        table.add_row(key, str(value))
    return table


def document(spec, stats) -> dict:
    """What ``--json`` prints: the spec and its DAG statistics."""
    return {"spec": spec.model_dump(mode="json"), "stats": stats.to_dict()}


def spec_option(field: str, *flags: str, **kwargs):  # type: ignore[no-untyped-def]
    """An option for one spec field: its default and description are the spec's."""
    info = ArchitectureSpec.model_fields[field]
    return click.option(*flags, field, default=info.default, show_default=True, help=info.description, **kwargs)


#: The spec fields set through ``-p``/``--staging-param`` rather than an option of their own.
PARAM_FIELDS = {"params": "--param", "staging_params": "--staging-param"}


@click.command()
@spec_option("generator", "--generator", "-g", shell_complete=plugin_names("generators"),
             callback=own_default("generators"))
@spec_option("nodes", "--nodes", "-n", type=int)
@spec_option("seed", "--seed", "-s", type=int)
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="generator parameter; repeat for several (see `parawire plugins NAME`)",
)
@spec_option("staging", "--staging", shell_complete=plugin_names("staging"), callback=own_default("staging"))
@param_option("staging")
@spec_option("input_shape", "--input-shape", type=int, nargs=3, metavar="C H W")
@spec_option("classes", "--classes", type=int)
@spec_option("base_channels", "--base-channels", type=int)
@spec_option("channel_cap", "--channel-cap", type=int)
@spec_option("aggregation", "--aggregation", type=click.Choice(typing.get_args(Aggregation)))
@click.option(
    "--output",
    "-o",
    type=OutputFile((".json", ".toml"), dash=True),
    help="write the spec here (.json or .toml, by the name's extension; - for stdout, as JSON)",
)
@json_option("the spec and its statistics")
def generate(params, staging_params, output, as_json, **fields) -> None:
    """Draw an architecture, print its statistics and save its spec."""
    from parawire.cli.inputs import check_spec_plugins
    from parawire.errors import ParawireError
    from parawire.graph.stats import dag_stats
    from parawire.pipeline.build import build_dag
    from rich.console import Console

    if output == DASH and as_json:
        raise ParawireError("-o -: stdout already gets the spec; give -o - or --json, not both")
    data = {**fields, "params": parse_params(params), "staging_params": staging_params}
    spec = ArchitectureSpec.parse(data, source="command line")
    check_spec_plugins(spec)
    stats = dag_stats(build_dag(spec))
    if output == DASH:
        click.echo(spec.to_json())
        return
    if output is not None:
        spec.save(prepare(output))
    if as_json:
        echo_json({**document(spec, stats), "output": output})
        return
    console = Console()
    print_table(summary(spec, stats), console)
    if output is not None:
        console.print(f"wrote {output}")


@click.command()
@click.argument("spec_file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path), required=False)
@json_option("the spec and its statistics")
@model_options
def show(spec_file: Path | None, as_json: bool, model, input_shape, min_flops, merge_elementwise) -> None:
    """Print a saved spec (or a --model's import), its DAG statistics and its width per depth level."""
    from parawire.cli.inputs import load_spec
    from parawire.graph.stats import dag_stats
    from parawire.pipeline.build import build_dag
    from rich.console import Console

    one_source(spec_file, model)
    if model is not None:
        return show_model(load_model(model, input_shape, min_flops, merge_elementwise), as_json)
    spec = load_spec(spec_file)
    stats = dag_stats(build_dag(spec))
    if as_json:
        echo_json(document(spec, stats))
        return
    console = Console()
    print_table(summary(spec, stats), console)
    print_table(width_table(stats), console)
