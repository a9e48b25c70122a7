"""``parawire score``: partition an architecture for several unit counts and ε, score each.

One table row per (units, ε) with δ_W, Λ (MB), Λ′, η, entropy, the score and whether
the balance limit held; the ε kept per unit count (the lowest score) is marked in the
column "kept", and a caption says what each column is. ``--json`` prints ``{"spec" or "model",
"partitioner", "score", "rows": [...]}`` (rows with their partitions), an object like
every other command's.
"""

from __future__ import annotations

from pathlib import Path

import click
from parawire.cli.options import NumberList, codec_options, codec_plan, finite_floats, own_default, plugin_names
from parawire.cli.params import param_option
from parawire.cli.printing import echo_json, json_option, print_table, table

#: The paper's ε sweep as ``parawire.pipeline.score.DEFAULT_EPS`` holds it (a test keeps the two
#: equal); importing that module would cost ``--help`` a third of a second.
DEFAULT_EPS_TEXT = "0.03 0.1 0.3"
from parawire.cli.models import load_model, model_options, one_source


#: Printed under the table: what each column is.
CAPTION = ("δ_W: largest unit load / mean (1 = even); Λ: bytes between units per inference; Λ′: Λ /"
           " (U_c · units); η: longest path / (vertices / units), lower = more to overlap; entropy: evenness"
           " of the loads (1 = even); kept: the ε with the lowest score at this unit count")


def score_table(rows, title: str):
    score_name = rows[0].score_name if rows else "score"
    columns = ("units", "ε", "δ_W", "Λ MB", "Λ′", "η", "entropy", score_name, "balanced", "kept")
    out = table(title, columns, numeric=columns[:-2])
    out.caption, out.caption_justify = CAPTION, "left"
    for row in rows:
        m = row.metrics
        out.add_row(
            str(row.units),
            f"{row.eps:g}",
            f"{m.imbalance:.3f}",
            f"{m.km1 / 1e6:.3f}",
            f"{m.lambda_norm:.2f}",
            f"{m.eta:.2f}",
            f"{m.entropy:.3f}",
            f"{row.score:.3f}",
            "yes" if m.balanced else "[red]no[/]",
            "[green]◀ best ε[/]" if row.best else "",
        )
    return out


@click.command()
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
                required=False)
@click.option("--units", "-u", cls=NumberList, type=click.IntRange(min=1), multiple=True,
              required=True,
              help="unit counts, e.g. --units 4 --units 8 or --units 4 6 8")
@click.option("--eps", cls=NumberList, type=finite_floats(), multiple=True,
              help=f"imbalance bounds ε (default {DEFAULT_EPS_TEXT})")
@click.option("--partitioner", default="multilevel", show_default=True, callback=own_default("partitioners"),
              shell_complete=plugin_names("partitioners"))
@param_option("partitioner")
@click.option("--score", "score_name", default="cs", show_default=True, callback=own_default("scores"),
              shell_complete=plugin_names("scores"))
@param_option("score")
@click.option("--unit-comm", type=click.IntRange(min=1), default=None,
              help="U_c in bytes (default: the architecture's smallest nonzero net cost)")
@click.option("--seed", type=int, default=None, help="partitioner seed (default: the spec's)")
@click.option("--profile", default="local", show_default=True,
              help="with --model: latency profile whose predicted block times the partition balances, as `run` does")
@click.option("--engine", default="torch", show_default=True, shell_complete=plugin_names("engines"),
              callback=own_default("engines"),
              help="with --model: the engine of that profile (as `run --model --engine`)")
@codec_options()
@json_option("the rows (with their partitions)")
@model_options
def score(spec_file: Path | None, units: tuple[int, ...], eps: tuple[float, ...], partitioner: str,
          partitioner_params: dict, score_name: str, score_params: dict, unit_comm: int | None,
          seed: int | None, profile: str, engine: str, codec: str, codec_params: dict, as_json: bool, model,
          input_shape, min_flops, merge_elementwise) -> None:
    """Score SPEC_FILE's architecture (or a --model's) on each unit count for each ε.

    A --model is partitioned as `run --model` places it (balancing each block's time
    predicted by --profile for --engine), so Λ at run's ε is the bytes run moves.
    --codec counts every crossing in its encoded bytes (Λ, Λ′ and the score)."""
    from parawire.cli.inputs import load_spec
    from parawire.models.deploy import model_profile
    from parawire.pipeline.build import build_architecture
    from parawire.pipeline.placement import check_units
    from parawire.pipeline.score import DEFAULT_EPS, score_architecture
    from parawire.registry.manager import get_plugins

    one_source(spec_file, model)
    get_plugins().partitioners.get(partitioner)
    get_plugins().scores.get(score_name)
    timing = None
    codecs = codec_plan(codec, codec_params)
    if model is not None:
        arch = load_model(model, input_shape, min_flops, merge_elementwise)
        check_units(units, arch.dag.nodes)
        timing = model_profile(profile, engine)
        name = f"{model} (blocks weighed by predicted time, profile {profile}, {engine}: the partition run uses)"
    else:
        spec = load_spec(spec_file)
        check_units(units, spec.nodes)
        arch, name = build_architecture(spec), spec_file.name
    rows = score_architecture(arch, list(units), list(eps) or list(DEFAULT_EPS),
                              partitioner=partitioner, score=score_name, seed=seed,
                              unit_comm=unit_comm, partitioner_params=partitioner_params,
                              score_params=score_params, profile=timing, codecs=codecs)
    if as_json:
        echo_json({"spec": None if model else spec_file, "model": model, "partitioner": partitioner,
                   "score": score_name, "codec": codecs.label, "rows": [row.to_dict() for row in rows]})
        return
    coded = "" if codecs.default.raw else f", crossings as {codecs.label}"
    print_table(score_table(rows, f"{name}: {partitioner} partitions, {score_name}{coded}"))
