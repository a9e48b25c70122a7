"""``parawire run``: one architecture, distributed over workers, timed against one process.

Prints the measured latency of one inference on the workers (median and p90 of
``--runs`` runs, computed by the ``--engine`` plugin) beside what a user would run
instead: the same network in this process with every engine (``onnxruntime``,
``torch``) on 1 thread and on all threads, the speed-up against the best of those, and
the latency model's prediction for the same plan (with the engine's ``local`` profile).
The partition balances the time that profile predicts for each vertex, not its FLOPs
(the score's weights): time is what a run waits for (docs/engines.md); ``--placement
schedule`` places by the model's makespan instead (:mod:`parawire.pipeline.placement`). Each
phase (build, partition, starting workers, deployment, each timing) is
announced on stderr before it starts, with a bar and ETA for the timed runs.

``--json`` prints ``{"rows": [{"run", "units", "engine", "median_ms", "p90_ms",
"speedup"}, …], "predicted_ms", …}``: one row per measured configuration, ``engine``
null where none was chosen.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
from parawire.calibration.timing import summary, timings
from parawire.cli.models import load_model, model_options, one_source
from parawire.cli.options import Endpoint, codec_options, codec_plan, placement_option, plugin_names
from parawire.cli.params import param_option
from parawire.cli.printing import echo_json, json_option, print_table, table


@dataclass(frozen=True)
class Row:
    """One measured configuration: what ran, on how many units, which engine, its times."""

    run: str
    units: int
    engine: str | None
    times: tuple[float, ...]

    def to_dict(self, base_s: float) -> dict:
        median, p90 = summary(list(self.times))
        return {"run": self.run, "units": self.units, "engine": self.engine,
                "median_ms": median * 1e3, "p90_ms": p90 * 1e3, "speedup": base_s / median}


def timed_row(progress, run: str, units: int, engine: str | None, fn: Callable[[], object],
              runs: int) -> Row:
    """Time ``fn`` with a progress bar named after the row."""
    with progress.bar(f"timing {run}", runs, "runs") as bar:
        return Row(run, units, engine, tuple(timings(fn, runs, on_run=bar.advance)))


def single_process(progress, make_net, engine: str, x, runs: int, threads: int) -> Row:
    """The whole network (a fresh one from ``make_net()``: engines may convert it in place)
    in this process with ``engine`` on ``threads`` threads."""
    import torch
    from parawire.network.threads import torch_threads
    from parawire.registry.manager import get_plugins

    name = f"1 process, {threads} thread{'s' if threads > 1 else ''}"
    with torch_threads(threads), torch.inference_mode():
        call = get_plugins().engines.get(engine).whole(net=make_net(), threads=threads)
        return timed_row(progress, name, 1, engine, lambda: call(x), runs)


def result_table(title: str, rows: list[dict], predicted_ms: float, profile: str, base_ms: float):
    out = table(title, ["run", "engine", "median ms", "p90 ms", "speed-up vs best single process"])
    for row in rows:
        out.add_row(row["run"], row["engine"], f"{row['median_ms']:.2f}", f"{row['p90_ms']:.2f}",
                    f"{row['speedup']:.2f}×")
    out.add_row(f"model ({profile})", rows[0]["engine"], f"{predicted_ms:.2f}", "", f"{base_ms / predicted_ms:.2f}×")
    return out


@click.command()
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False)
@click.option("--units", "-u", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--local", "local", is_flag=True, help="start the workers here, on loopback")
@click.option("--endpoint", "endpoints", multiple=True, type=Endpoint(),
              help="a running worker (repeat, one per unit)")
@click.option("--transport", default="zmq", show_default=True,
              help="transport plugin (zmq, inproc, or a third party's; see `parawire plugins`)",
              shell_complete=plugin_names("transports"))
@param_option("transport")
@click.option("--endpoint-kind", type=click.Choice(["ipc", "tcp"]), default="ipc", show_default=True)
@click.option("--runs", "-r", "runs", type=click.IntRange(min=1), default=50, show_default=True,
              help="timed inferences per configuration")
@click.option("--partitioner", default="multilevel", show_default=True,
              shell_complete=plugin_names("partitioners"))
@param_option("partitioner")
@click.option("--eps", type=click.FloatRange(min=0), default=0.03, show_default=True, help="imbalance bound")
@placement_option
@click.option("--profile", default="local", show_default=True,
              help="latency model profile for the prediction (local = calibrated here, edge, lan)")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="seconds to wait for the workers at each step (start, deployment, each answer)")
@click.option("--curve-secret", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="this coordinator's *.key_secret file (`parawire keys DIR`: DIR/client.key_secret)")
@click.option("--curve-server", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the workers' public key file (DIR/server.key)")
@click.option("--engine", default=None, shell_complete=plugin_names("engines"),
              help="inference engine of the workers (default: onnxruntime; see `parawire plugins`)")
@codec_options(auto=True)
@click.option("--check-inputs", type=click.IntRange(min=1), default=32, show_default=True,
              help="images whose top-1 class the workers' run is compared on (and --codec auto's calibration set)")
@json_option("the measured rows and the prediction")
@model_options
def run(spec_file, units, local, endpoints, transport, transport_params, endpoint_kind, runs, partitioner,
        partitioner_params, eps, placement, profile, timeout, curve_secret, curve_server, engine, codec,
        codec_params, max_top1_change, check_inputs, as_json, model, input_shape, min_flops, merge_elementwise):
    """Run SPEC_FILE (or a --model) on UNITS workers and compare with one process."""
    from parawire.cli.inputs import check_units, load_spec
    from parawire.cli.progress import Progress
    from parawire.errors import ParawireError
    from parawire.registry.manager import get_plugins

    if local == bool(endpoints):
        raise ParawireError("give either --local (start workers here) or one --endpoint per unit")
    if endpoints and len(endpoints) != units:
        raise ParawireError(f"--endpoint: got {len(endpoints)}; need one per unit ({units})")
    if (curve_secret is None) != (curve_server is None):
        raise ParawireError("--curve-secret and --curve-server go together (`parawire keys DIR` writes both)")
    if local and curve_secret is not None:
        raise ParawireError(
            "--curve-secret/--curve-server are for remote --endpoint workers; --local ones use loopback"
        )
    one_source(spec_file, model)
    imported = load_model(model, input_shape, min_flops, merge_elementwise) if model is not None else None
    spec = imported.spec if imported is not None else load_spec(spec_file)
    nodes = imported.dag.nodes if imported is not None else spec.nodes
    check_units([units], nodes)
    get_plugins().partitioners.get(partitioner)
    from parawire.executor.transport import transport_record
    from parawire.registry.records import DEFAULT_ENGINE

    transport_record(transport, transport_params)  # unknown name or bad params: before any work

    if imported is not None and engine not in (None, "torch"):
        raise ParawireError(f"--engine {engine}: an imported --model runs its blocks as torch fx sub-graphs;"
                            " use --engine torch (or leave it out)")
    engine = "torch" if imported is not None else engine or DEFAULT_ENGINE
    get_plugins().engines.get(engine)  # an unknown name fails before any work, listing the known ones
    codecs = codec_plan(codec, codec_params, auto=True)
    coding = Coding(codecs, max_top1_change, check_inputs)
    with Progress() as progress:
        measured, extra = measure(progress, spec, units, local, endpoints, transport, transport_params,
                                  endpoint_kind, runs, partitioner, partitioner_params, eps, placement, profile,
                                  timeout, curve_secret, curve_server, engine, imported, coding)
    best = min(measured[1:], key=lambda row: summary(list(row.times))[0])
    base_s = summary(list(best.times))[0]
    rows = [row.to_dict(base_s) for row in measured]
    predicted_ms = extra["predicted_s"] * 1e3
    if as_json:
        echo_json({
            "spec": str(spec_file) if spec_file else None, "model": model,
            "generator": getattr(spec, "generator", None), "nodes": nodes, "units": units,
            "partitioner": partitioner, "placement": placement, "transport": transport, "runs": runs, "rows": rows,
            "predicted_ms": predicted_ms, "profile": profile,
            "bytes_per_inference": extra["bytes"], "cut_bytes": extra["cut_bytes"],
            "max_abs_diff": extra["max_abs_diff"], "notes": extra["notes"],
            "codec": extra["codec"], "accuracy": extra["accuracy"], "codec_check": extra["codec_check"],
        })
        return
    from rich.console import Console

    console = Console()
    what = f"{model}: {nodes} blocks" if model else f"{spec_file.name}: {spec.generator}, {nodes} vertices"
    title = f"{what}, {units} units ({partitioner}{'' if placement == 'partition' else ', schedule placement'})"
    print_table(result_table(title, rows, predicted_ms, profile, base_s * 1e3), console)
    console.print(f"best single process: {best.engine}, {best.run.split(', ')[1]}")
    console.print(
        f"bytes between units per inference: {extra['bytes']:.0f} (partition Λ = {extra['cut_bytes']});"
        f" {extra['messages']:.1f} messages; codec {extra['codec']}"
    )
    accuracy = extra["accuracy"]
    console.print(f"against one exact process on {accuracy['inputs']} inputs: top-1 agreement"
                  f" {accuracy['top1_agreement']:.1%}, max |diff| {accuracy['max_abs_diff']:.3g}")
    for note in extra["notes"]:
        console.print(f"note: {note}")


@dataclass(frozen=True)
class Coding:
    """``--codec`` (a plan, or None for auto), ``--max-top1-change`` and ``--check-inputs``."""

    codecs: object
    max_top1_change: float
    check_inputs: int


def measure(progress, spec, units, local, endpoints, transport, transport_params, endpoint_kind, runs,
            partitioner, partitioner_params, eps, placement, profile, timeout, curve_secret,
            curve_server, engine: str, imported=None, coding: Coding | None = None) -> tuple[list[Row], dict]:
    """Every timed row (workers first, then one process per engine on 1 and all threads)
    and the extras. ``imported``: a traced model (``--model``) to run instead of ``spec``'s
    architecture; its blocks are fx sub-graphs, so it runs on the torch engine only."""
    progress.step("loading torch")
    import torch
    from parawire.calibration.codec_choice import (
        DEFAULT_MAX_TOP1_CHANGE,
        calibration_set,
        compare,
        exact_logits,
    )
    from parawire.calibration.codecs import codec_cost
    from parawire.calibration.local import get_profile
    from parawire.errors import ParawireError
    from parawire.executor.coordinator import Cluster
    from parawire.executor.local import LocalWorkers
    from parawire.executor.plan import plan_for
    from parawire.executor.transport import transport_record
    from parawire.models.deploy import deployment_builder
    from parawire.network.nn import build_network
    from parawire.pipeline.build import build_architecture
    from parawire.registry.codecs import RAW_PLAN, get_codec
    from parawire.registry.manager import get_plugins

    what = f"{imported.dag.nodes} blocks" if imported else f"{spec.generator}, {spec.nodes} vertices"
    with progress.timed(f"building and partitioning {what}, {units} units"):
        arch = imported if imported is not None else build_architecture(spec)
        def make_net():
            return imported.model if imported is not None else build_network(arch).eval()

        net = make_net()
        coding = coding or Coding(RAW_PLAN, DEFAULT_MAX_TOP1_CHANGE, 32)
        xs = calibration_set(spec.input_shape, coding.check_inputs, seed=spec.seed % 2**32)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = get_profile(profile, engine=engine)
            codecs, part, check = place_coded(arch, net, units, model, placement, partitioner, eps,
                                              partitioner_params, engine, coding, xs)
        plan = plan_for(arch, part, model, units=units, codecs=codecs, cost=lambda c: codec_cost(c, engine))
        x = torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(spec.seed))
        with torch.inference_mode():
            reference = net(x)
            references = exact_logits(net, xs)

    workers = None
    try:
        if local:
            with progress.timed(f"starting {units} local worker processes"):
                allow = [imported.spec.factory] if imported else []
                in_process = transport_record(transport, transport_params)[0].in_process
                workers = LocalWorkers(units, transport, endpoint_kind, transport_params=transport_params,
                                       startup_timeout=timeout, allow_models=allow,
                                       builder=deployment_builder(allow) if allow and in_process else None)
        with Cluster.connect(workers.endpoints if workers else list(endpoints), transport, timeout=timeout,
                             transport_params=transport_params, curve_secret=curve_secret,
                             curve_server=curve_server) as cluster:
            with progress.timed(f"deploying to {units} workers"):
                if imported is not None:
                    from parawire.models.deploy import deployment, unit_weights

                    cluster.deploy(deployment(imported), plan, unit_weights(imported, plan), timeout=timeout)
                else:
                    cluster.deploy(spec, plan, timeout=timeout, engine=engine)
            max_abs_diff = float((cluster.infer(x) - reference).abs().max())
            exact = all(get_codec(c).exact for c in codecs.choices())
            if exact and not max_abs_diff <= 1e-5 + 1e-4 * float(reference.abs().max()):
                raise ParawireError(f"distributed outputs differ from the single-process ones (max |diff| {max_abs_diff:.3g})")
            accuracy = compare(references, torch.cat(cluster.infer_many([x[None] for x in xs])))
            kind = f"{transport}{'-' + endpoint_kind if transport == 'zmq' and local else ''}"
            distributed = timed_row(progress, f"{units} worker{'s' if units > 1 else ''} ({kind})", units, engine,
                                    lambda: cluster.infer(x), runs)
            stats = cluster.stats()
    finally:
        if workers is not None:
            workers.close()
    cores = os.cpu_count() or 1
    engines = ["torch"] if imported is not None else get_plugins().engines.names()
    rows = [distributed] + [single_process(progress, make_net, name, x, runs, threads)
                            for name in engines for threads in sorted({1, cores})]
    return rows, {
        "predicted_s": plan.predicted_latency_s, "bytes": stats.bytes_per_inference,
        "cut_bytes": plan.cut_bytes, "messages": stats.peer_messages / max(stats.inferences, 1),
        "max_abs_diff": max_abs_diff, "notes": [str(w.message) for w in caught],
        "codec": codecs.label, "accuracy": accuracy.to_dict(), "codec_check": check,
    }


def place_coded(arch, net, units, profile, placement, partitioner, eps, partitioner_params, engine,
                coding: Coding, xs):
    """(codecs, partition, the auto check's report or None): the given codecs, placed for
    their bytes, or ``--codec auto``'s choice (:func:`parawire.calibration.codec_choice.choose`)."""
    from parawire.calibration.codec_choice import choose
    from parawire.calibration.codecs import codec_cost
    from parawire.pipeline.placement import place_architecture
    from parawire.pipeline.wire import wire_of

    def cost(choice):
        return codec_cost(choice, engine)

    def place(wire):
        return place_architecture(arch, units, profile, placement, partitioner, eps, params=partitioner_params,
                                  wire=wire)

    if coding.codecs is None:
        return choose(arch, net, profile, place, cost, xs, coding.max_top1_change)
    return coding.codecs, place(wire_of(arch, coding.codecs, cost)), None
