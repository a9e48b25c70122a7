"""``parawire generate`` (spec from options → file) and ``parawire show`` (file → statistics).

``generate`` validates everything (spec fields, the generator's parameters, and what
only the draw can check, such as WS's k < nodes) before it writes anything, so a file
on disk always describes a buildable architecture.
"""

from __future__ import annotations

from pathlib import Path

import click
from parawire.cli.models import load_model, model_options, one_source, show_model
from parawire.cli.options import plugin_names
from parawire.cli.outputs import OutputFile, prepare
from parawire.cli.params import param_option, parse_params
from parawire.cli.printing import echo_json, json_option, print_table, width_table


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


@click.command()
@click.option("--generator", "-g", help="generator plugin name (see `parawire plugins`)",
              shell_complete=plugin_names("generators"))
@click.option("--nodes", "-n", type=int, help="computation vertices, input/output not counted")
@click.option("--seed", "-s", type=int, help="fixes the whole architecture")
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="generator parameter; repeat for several",
)
@click.option("--staging", help="staging policy plugin name", shell_complete=plugin_names("staging"))
@param_option("staging")
@click.option(
    "--output",
    "-o",
    type=OutputFile((".json", ".toml")),
    help="write the spec here (.json or .toml, by the name's extension)",
)
@json_option("the spec and its statistics")
def generate(generator, nodes, seed, params, staging, staging_params, output, as_json) -> None:
    """Draw an architecture, print its statistics and save its spec."""
    from parawire.cli.inputs import check_spec_plugins
    from parawire.graph.spec import ArchitectureSpec
    from parawire.graph.stats import dag_stats
    from parawire.pipeline.build import build_dag
    from rich.console import Console

    fields = {"generator": generator, "nodes": nodes, "seed": seed, "staging": staging}
    data = {k: v for k, v in fields.items() if v is not None}
    data["params"] = parse_params(params)
    data["staging_params"] = staging_params
    spec = ArchitectureSpec.parse(data, source="command line")
    check_spec_plugins(spec)
    stats = dag_stats(build_dag(spec))
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
@click.argument("spec_file", type=click.Path(dir_okay=False, path_type=Path), required=False)
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
