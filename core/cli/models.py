"""The ``--model`` options shared by ``parawire show``, ``score`` and ``run``.

A command takes either a spec file or ``--model REF`` (never both); these helpers keep
that rule, and the import of the model, in one place.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from parawire.errors import ParawireError


def model_options(command):  # type: ignore[no-untyped-def]
    """Add ``--model``, ``--input-shape``, ``--min-flops`` and ``--no-merge-elementwise``."""
    options = [
        click.option("--model", "model", metavar="REF",
                     help="instead of SPEC_FILE: a PyTorch model, FILE.py:FACTORY or package.module:FACTORY"),
        click.option("--input-shape", type=click.IntRange(min=1), nargs=3, default=(3, 32, 32),
                     show_default=True, metavar="C H W", help="with --model: one image's shape"),
        click.option("--min-flops", type=click.IntRange(min=0), default=0, show_default=True,
                     help="with --model: merge blocks below this many multiply-adds"),
        click.option("--merge-elementwise/--no-merge-elementwise", default=True, show_default=True,
                     help="with --model: merge chains of element-wise ops into their producer"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def one_source(spec_file: Path | None, model: str | None) -> None:
    """Exactly one of SPEC_FILE and ``--model``."""
    if spec_file is None and model is None:
        raise ParawireError("Missing argument 'SPEC_FILE' (or give --model FILE.py:FACTORY)")
    if spec_file is not None and model is not None:
        raise ParawireError("give either SPEC_FILE or --model FILE.py:FACTORY, not both")


def load_model(model: str, input_shape, min_flops: int, merge_elementwise: bool):  # type: ignore[no-untyped-def]
    """The :class:`~parawire.models.ImportedModel` the options describe."""
    from parawire.models import ModelSpec, import_model

    return import_model(ModelSpec.parse({
        "factory": model, "input_shape": list(input_shape), "min_flops": min_flops,
        "merge_elementwise": merge_elementwise,
    }, source="--model"))


def model_profile(profile: str, engine: str):  # type: ignore[no-untyped-def]
    """The device profile that weighs an imported model's blocks by predicted time: one
    rule for `score --model` and `run --model`, so both partition alike (``local`` is
    measured once per engine and cached)."""
    from parawire.calibration.local import get_profile
    from parawire.registry.manager import get_plugins

    get_plugins().engines.get(engine)  # an unknown name: one line listing the known ones
    return get_profile(profile, engine=engine)


def show_model(imported, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """``parawire show --model``: the import's spec, block costs and DAG statistics."""
    from parawire.cli.printing import width_table
    from parawire.graph.stats import dag_stats
    from rich.console import Console
    from rich.table import Table

    stats = dag_stats(imported.dag)
    costs = imported.costs
    summary = {
        "blocks": imported.dag.nodes, "macs": costs.total_flops, "params": costs.total_params,
        "largest_block_macs": int(costs.flops.max()), "activation_bytes": int(costs.out_bytes.sum()),
    }
    if as_json:
        click.echo(json.dumps({"spec": imported.spec.model_dump(mode="json"), "model": summary, "stats": stats.to_dict()}))
        return
    table = Table(show_header=False, title=f"model {imported.spec.factory}")
    table.add_column(style="bold")
    table.add_column()
    rows = {
        "input shape": " × ".join(map(str, imported.spec.input_shape)),
        "blocks": f"{imported.dag.nodes} (+ input and output = {stats.vertices} DAG vertices)",
        "multiply-adds": f"{costs.total_flops:,} (largest block {summary['largest_block_macs']:,})",
        "parameters": f"{costs.total_params:,}",
        "DAG edges": stats.edges,
        "depth": f"{stats.depth} (longest input→output path, in vertices)",
        "max width": stats.max_width,
        "mean width": f"{stats.mean_width:.2f}",
    }
    for key, value in rows.items():
        table.add_row(key, str(value))
    console = Console()
    console.print(table)
    console.print(width_table(stats))
