"""The ``--model`` options shared by ``parawire show``, ``score`` and ``run``.

A command takes either a spec file or ``--model REF`` (never both); these helpers keep
that rule, and the import of the model, in one place. The options that only mean
something with ``--model`` are refused without it rather than ignored, and a reference
to a missing file or package is refused before torch loads (seconds on a busy machine).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import click
from click.core import ParameterSource
from parawire.cli.options import NumberList
from parawire.errors import ParawireError

#: Options that only mean something with ``--model`` (parameter name → as typed).
MODEL_ONLY = {"input_shape": "--input-shape", "min_flops": "--min-flops",
              "merge_elementwise": "--[no-]merge-elementwise"}


def model_options(command):  # type: ignore[no-untyped-def]
    """Add ``--model``, ``--input-shape``, ``--min-flops`` and ``--no-merge-elementwise``."""
    options = [
        # eager, so a missing file is refused before other options' callbacks load the plugins
        click.option("--model", "model", metavar="REF", is_eager=True, callback=checked_model_ref,
                     help="instead of SPEC_FILE: a PyTorch model, FILE.py:FACTORY or package.module:FACTORY"),
        click.option("--input-shape", cls=NumberList, type=click.IntRange(min=1), multiple=True,
                     default=(3, 32, 32), show_default=True, metavar="C H W",
                     help="with --model: one image's shape (one image per inference)"),
        click.option("--min-flops", type=click.IntRange(min=0), default=0, show_default=True,
                     help="with --model: merge blocks below this many multiply-adds"),
        click.option("--merge-elementwise/--no-merge-elementwise", default=True, show_default=True,
                     help="with --model: merge chains of element-wise ops into their producer"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def one_source(spec_file: Path | str | None, model: str | None, argument: str = "SPEC_FILE") -> None:
    """Exactly one of the command's ``argument`` (SPEC_FILE, or ``testbed run``'s ARCH) and
    ``--model``, and a ``--model`` whose file or package exists: checked first, before
    the plugins (and torch with them) load for seconds."""
    if spec_file is None and model is None:
        raise ParawireError(f"Missing argument '{argument}' (or give --model FILE.py:FACTORY)")
    if spec_file is not None and model is not None:
        raise ParawireError(f"give either {argument} or --model FILE.py:FACTORY, not both")
    ctx = click.get_current_context(silent=True)
    given = [flag for name, flag in MODEL_ONLY.items()
             if ctx is not None and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE]
    if model is None and given:
        raise ParawireError(f"{', '.join(given)}: only with --model; a spec file's input shape is its own"
                            " (`parawire generate --input-shape C H W` sets it)")
    if model is not None:
        check_model_ref(model)


def checked_model_ref(ctx, param, model: str | None) -> str | None:  # type: ignore[no-untyped-def]
    """``--model``'s callback: :func:`check_model_ref` as the option is parsed."""
    if model is not None:
        check_model_ref(model)
    return model


def check_model_ref(model: str) -> None:
    """The reference is well formed and its file or top-level package exists (no import)."""
    from parawire.models.factory import split_ref

    where, _ = split_ref(model)
    if where.endswith(".py"):
        if not Path(where).is_file():
            raise ParawireError(f"--model {model}: file {where} does not exist; check the path")
    elif importlib.util.find_spec(where.split(".")[0]) is None:
        raise ParawireError(f"--model {model}: no module {where.split('.')[0]!r} is installed or on"
                            " PYTHONPATH; check the name")


def check_image_shape(input_shape) -> None:  # type: ignore[no-untyped-def]
    """``--input-shape`` is one image's C H W. An imported model runs one image per
    inference: its costs, its Λ and the workers' ONNX sessions are measured and exported
    for that shape, so a batch (``--input-shape 4 3 224 224``) is refused, not run with
    figures that would hold for another one."""
    if len(input_shape) != 3:
        given = " ".join(map(str, input_shape))
        batch = f", so a batch of {input_shape[0]} is {input_shape[0]} inferences" if len(input_shape) == 4 else ""
        raise ParawireError(f"--input-shape {given}: give one image's C H W (3 numbers); an imported --model"
                            f" runs one image per inference{batch}")


def load_model(model: str, input_shape, min_flops: int, merge_elementwise: bool):  # type: ignore[no-untyped-def]
    """The :class:`~parawire.models.ImportedModel` the options describe (its reference
    already checked by :func:`one_source`)."""
    from parawire.cli.progress import Progress

    check_image_shape(input_shape)
    with Progress() as progress:
        progress.step(f"loading torch and tracing {model}")
        from parawire.models import ModelSpec, import_model

        return import_model(ModelSpec.parse({
            "factory": model, "input_shape": list(input_shape), "min_flops": min_flops,
            "merge_elementwise": merge_elementwise,
        }, source="--model"))


def check_model_engine(engine: str | None) -> None:
    """An engine an imported model's blocks run on (``None``: the command's default), or one line."""
    from parawire.models.deploy import MODEL_ENGINES
    from parawire.registry.kinds import builtin

    if engine is not None and engine.removeprefix(builtin("")) not in MODEL_ENGINES:
        raise ParawireError(f"--engine {engine}: an imported --model runs on {' or '.join(MODEL_ENGINES)}")


def model_workload(imported):  # type: ignore[no-untyped-def]
    """An imported model as what ``testbed run`` measures
    (:class:`~parawire.testbed.workload.Workload`): deployed with its weights, on
    workers allowed to import its factory, checked against the user's own module."""
    from parawire.models.deploy import deploy_model
    from parawire.testbed.workload import Workload

    def deploy(cluster, plan, engine: str) -> None:  # type: ignore[no-untyped-def]
        deploy_model(cluster, imported, plan, engine=engine)

    spec = imported.spec
    return Workload(imported, imported.model, deploy,
                    {"model": spec.factory, "blocks": imported.dag.nodes, "seed": spec.seed,
                     "input_shape": list(spec.input_shape)},
                    allow_models=(spec.factory,))


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
