"""``parawire run``: one architecture, distributed over workers, timed against one process.

Prints the measured latency of one inference on the workers (median and p90 of
``--runs`` runs, computed by the ``--engine`` plugin with its ``--engine-param``s) beside
what a user would run instead: the same network in this process with each
``--baseline-engine`` (default: the selected engine and ``onnxruntime``, parawire's
fastest) on 1 thread and on all threads, the speed-up against the best of those, and
the latency model's prediction for the same plan (with the engine's ``local`` profile).
The partition balances the time that profile predicts for each vertex, not its FLOPs
(the score's weights): time is what a run waits for (docs/engines.md); ``--placement
schedule`` places by the model's makespan instead (:mod:`parawire.pipeline.placement`). Each
phase (build, partition, starting workers, deployment, each timing) is
announced on stderr before it starts, with a bar and ETA for the timed runs.

``--json`` prints ``{"rows": [{"run", "units", "engine", "median_ms", "p90_ms",
"speedup", "error"}, …], "predicted_ms", …}``: one row per measured configuration. A
single-process row whose engine fails (its ``whole()`` raises, returns something that is
not callable, or computes another shape) is kept with its one-line ``error`` and null
times: one broken engine plugin never takes the comparison down.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click
from parawire.calibration.timing import MAX_TIMED_RUNS, summary, timings
from parawire.cli.models import (
    check_model_engine,
    load_model,
    model_options,
    one_source,
)
from parawire.cli.options import (
    codec_options,
    codec_plan,
    Endpoint,
    finite_floats,
    own_default,
    placement_option,
    plugin_names,
)
from parawire.cli.params import param_option
from parawire.cli.printing import echo_json, json_option, print_table, table
from parawire.cli.startup import start_timeout, starting_workers
from parawire.models.deploy import MODEL_ENGINES, model_profile


@dataclass(frozen=True)
class Row:
    """One measured configuration: what ran, on how many units, which engine, its times
    (none, and the one-line ``error``, when its engine failed)."""

    run: str
    units: int
    engine: str | None
    times: tuple[float, ...]
    error: str | None = None

    @property
    def median_s(self) -> float:
        return summary(list(self.times))[0]

    def to_dict(self, base_s: float) -> dict:
        if self.error is not None:
            return {"run": self.run, "units": self.units, "engine": self.engine, "median_ms": None,
                    "p90_ms": None, "speedup": None, "error": self.error}
        median, p90 = summary(list(self.times))
        return {"run": self.run, "units": self.units, "engine": self.engine,
                "median_ms": median * 1e3, "p90_ms": p90 * 1e3, "speedup": base_s / median, "error": None}


@dataclass(frozen=True)
class Timed:
    """A configuration to time: its row's labels and one inference."""

    run: str
    units: int
    engine: str | None
    call: Callable[[], object]


ROUNDS = 5
"""Rounds the timed runs are spread over."""


def interleaved(progress, configs: list[Timed | Row], runs: int) -> list[Row]:
    """``runs`` timed calls of every configuration, round by round (each round times every
    configuration in turn, as ``benchmarks/engine_table.py`` does): on a shared machine a
    load that comes and goes then weighs on every row alike, instead of flipping the
    speed-up by landing on one of them. A configuration that already failed (a
    :class:`Row` with its error) keeps its place."""
    timed = [c for c in configs if isinstance(c, Timed)]
    shares = [runs // ROUNDS + (1 if r < runs % ROUNDS else 0) for r in range(min(ROUNDS, runs))]
    times: list[list[float]] = [[] for _ in timed]
    for config in timed:
        timings(config.call, 0)  # the warm-up calls
    with progress.bar(f"timing {len(timed)} configurations, interleaved", runs * len(timed), "runs") as bar:
        for share in shares:
            for config, out in zip(timed, times):
                out += timings(config.call, share, warmup=0, on_run=bar.advance)
    rows = iter(Row(c.run, c.units, c.engine, tuple(t)) for c, t in zip(timed, times))
    return [next(rows) if isinstance(c, Timed) else c for c in configs]


def single_process(make_net, record, params, x, reference, threads: int, imported=None) -> Timed | Row:  # type: ignore[no-untyped-def]
    """The whole network (a fresh one from ``make_net()``: engines may convert it in place)
    in this process with the engine ``record`` on ``threads`` threads, ready to time; a row
    with the engine's one-line error if it fails, so the other rows are still measured. An
    imported model on ONNX Runtime is its traced program exported whole by torch's
    exporter (a model with no ONNX form gets the exporter's error in its row)."""
    import torch
    from parawire.errors import ParawireError
    from parawire.network.threads import torch_threads
    from parawire.registry.kinds import OWN_DISTRIBUTION
    from parawire.registry.records import WholeContext

    name = f"1 process, {threads} thread{'s' if threads > 1 else ''}"
    try:
        if imported is not None and (record.distribution, record.name) == (OWN_DISTRIBUTION, "onnxruntime"):
            from parawire.engines.fx_onnx import export_session

            session = export_session(imported.whole(), [x], threads)

            def infer():  # type: ignore[no-untyped-def]
                return session([x])
        else:
            with torch_threads(threads):
                call = record.invoke(WholeContext(make_net(), threads), params)

            def infer():  # type: ignore[no-untyped-def]
                with torch_threads(threads), torch.inference_mode():
                    return call(x.clone())
        out = infer()
        if getattr(out, "shape", None) != reference.shape:
            raise ParawireError(f"{record.label}: whole() computes {_shape(out)} for this input;"
                                f" the network's output is {tuple(reference.shape)}")
        return Timed(name, 1, record.name, infer)
    except ParawireError as exc:
        return Row(name, 1, record.name, (), error=str(exc))
    except Exception as exc:  # noqa: BLE001 - raised by what whole() returned (the plugin's code) or the exporter
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        return Row(name, 1, record.name, (), error=f"{record.label} failed: {type(exc).__name__}: {first}")


def _shape(value) -> str:
    shape = getattr(value, "shape", None)
    return str(tuple(shape)) if shape is not None else type(value).__name__


def baseline_engines(engine: str, names: tuple[str, ...], imported: bool) -> list:
    """The engine records of the single-process rows: those named (``--baseline-engine``),
    else the selected one and parawire's fastest; each once. An unknown name, or for an
    imported model an engine it cannot run on, fails here."""
    from parawire.errors import ParawireError
    from parawire.registry.kinds import OWN_DISTRIBUTION
    from parawire.registry.manager import get_plugins
    from parawire.registry.records import DEFAULT_ENGINE

    engines = get_plugins().engines
    records = [engines.get(name) for name in names or (engine, engines.own(DEFAULT_ENGINE))]
    for record in records:
        if imported and (record.distribution != OWN_DISTRIBUTION or record.name not in MODEL_ENGINES):
            raise ParawireError(f"--baseline-engine {record.name}: an imported --model runs on "
                                f"{' or '.join(MODEL_ENGINES)}")
    return list({(r.distribution, r.name): r for r in records}.values())


def result_table(title: str, rows: list[dict]):
    """The measured rows only; the model's prediction is printed under the table, since it
    is no measurement and has no speed-up of its own."""
    out = table(title, ["run", "engine", "median ms", "p90 ms", "speed-up"])
    out.caption, out.caption_justify = "speed-up: the best single process's median ÷ the row's", "left"
    for row in rows:
        if row["error"] is not None:
            out.add_row(row["run"], row["engine"], "failed", "", row["error"])
            continue
        out.add_row(row["run"], row["engine"], f"{row['median_ms']:.2f}", f"{row['p90_ms']:.2f}",
                    f"{row['speedup']:.2f}×")
    return out


@click.command()
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
                required=False)
@click.option("--units", "-u", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--local", "local", is_flag=True, help="start the workers here, on loopback")
@click.option("--endpoint", "endpoints", multiple=True, type=Endpoint(),
              help="a running worker (repeat, one per unit)")
@click.option("--transport", default="zmq", show_default=True, callback=own_default("transports"),
              help="transport plugin (zmq, inproc, or a third party's; see `parawire plugins`)",
              shell_complete=plugin_names("transports"))
@param_option("transport")
@click.option("--endpoint-kind", type=click.Choice(["ipc", "tcp"]), default="ipc", show_default=True)
@click.option("--runs", "-r", "runs", type=click.IntRange(1, MAX_TIMED_RUNS), default=50, show_default=True,
              help="timed inferences per configuration")
@click.option("--partitioner", default="multilevel", show_default=True, callback=own_default("partitioners"),
              shell_complete=plugin_names("partitioners"))
@param_option("partitioner")
@click.option("--eps", type=finite_floats(), default=0.03, show_default=True, help="imbalance bound")
@placement_option
@click.option("--profile", default="local", show_default=True,
              help="latency model profile for the prediction (local = calibrated here, edge, lan)")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="seconds to wait for the workers at each step (deployment, each answer; their start:"
                   " this times the load per core, at least this)")
@click.option("--curve-secret", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="this coordinator's *.key_secret file (`parawire keys DIR`: DIR/client.key_secret)")
@click.option("--curve-server", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the workers' public key file (DIR/server.key)")
@click.option("--owner-secret", type=click.Path(dir_okay=False, path_type=Path),
              help="the owner.secret file of --endpoint workers started with --owner-secret (`parawire keys DIR`);"
                   " they refuse deployments without it")
@click.option("--engine", default=None, shell_complete=plugin_names("engines"),
              help="inference engine of the workers (default: onnxruntime; see `parawire plugins`)")
@param_option("engine")
@click.option("--baseline-engine", "baselines", multiple=True, shell_complete=plugin_names("engines"),
              help="engine of the single-process rows (repeat; default: --engine and onnxruntime)")
@codec_options(auto=True)
@json_option("the measured rows and the prediction")
@model_options
def run(spec_file, units, local, endpoints, transport, transport_params, endpoint_kind, runs, partitioner,
        partitioner_params, eps, placement, profile, timeout, curve_secret, curve_server, owner_secret, engine,
        engine_params, baselines, codec, codec_params, max_top1_change, check_inputs, as_json, model, input_shape, min_flops,
        merge_elementwise):
    """Run SPEC_FILE (or a --model) on UNITS workers and compare with one process."""
    from parawire.cli.inputs import load_spec
    from parawire.cli.progress import Progress
    from parawire.errors import ParawireError
    from parawire.pipeline.placement import check_placement, check_units
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
    if local and owner_secret is not None:
        raise ParawireError("--owner-secret is for --endpoint workers started with it; --local ones have none")
    if owner_secret is not None:
        from parawire.executor.security import load_owner_secret

        load_owner_secret(owner_secret)  # a missing, foreign or malformed file: one line before any work
    one_source(spec_file, model)
    check_placement(placement)
    if model is not None:
        check_model_engine(engine)  # before the import's seconds
    imported = load_model(model, input_shape, min_flops, merge_elementwise) if model is not None else None
    spec = imported.spec if imported is not None else load_spec(spec_file)
    nodes = imported.dag.nodes if imported is not None else spec.nodes
    check_units([units], nodes)
    get_plugins().partitioners.get(partitioner)
    from parawire.executor.transport import transport_record
    from parawire.registry.kinds import builtin
    from parawire.registry.records import DEFAULT_ENGINE

    transport_record(transport, transport_params)  # unknown name or bad params: before any work

    engines = get_plugins().engines
    engine = engine or engines.own("torch" if imported is not None else DEFAULT_ENGINE)
    # unknown names and bad parameters fail before any work, listing the known ones
    engine_params = engines.get(engine).resolve(engine_params).model_dump(mode="json", exclude_unset=True)
    compared = baseline_engines(engine, baselines, imported is not None)
    codecs = codec_plan(codec, codec_params, auto=True)
    coding = Coding(codecs, max_top1_change, check_inputs)
    with Progress() as progress:
        measured, extra = measure(progress, spec, units, local, endpoints, transport, transport_params,
                                  endpoint_kind, runs, partitioner, partitioner_params, eps, placement, profile,
                                  timeout, curve_secret, curve_server, engine, imported, engine_params, compared,
                                  coding, owner_secret)
    best = min((row for row in measured[1:] if row.error is None), key=lambda row: row.median_s,
               default=measured[0])  # every single-process row failed: compare with the workers
    base_s = best.median_s
    rows = [row.to_dict(base_s) for row in measured]
    predicted_ms = extra["predicted_s"] * 1e3
    if as_json:
        echo_json({
            "spec": str(spec_file) if spec_file else None, "model": model,
            "generator": getattr(spec, "generator", None), "nodes": nodes, "units": units,
            "partitioner": partitioner, "placement": placement, "transport": transport, "runs": runs, "rows": rows,
            "predicted_ms": predicted_ms, "profile": profile,
            "bytes_per_inference": extra["bytes"], "cut_bytes": extra["cut_bytes"],
            "max_abs_diff": extra["max_abs_diff"], "notes": extra["notes"], "tiling": extra["tiling"],
            "codec": extra["codec"], "accuracy": extra["accuracy"], "codec_check": extra["codec_check"],
        })
        return
    from rich.console import Console

    console = Console()
    what = f"{model}: {nodes} blocks" if model else f"{spec_file.name}: {spec.generator}, {nodes} vertices"
    tiling = extra["tiling"]
    tiles = f", {tiling['grid'][0]}×{tiling['grid'][1]} tiles above {tiling['threshold']} px" if tiling else ""
    title = f"{what}, {units} units ({partitioner}{'' if placement == 'partition' else f', {placement} placement'}{tiles})"
    print_table(result_table(title, rows), console)
    if best is not measured[0]:
        console.print(f"best single process: {best.engine}, {best.run.split(', ')[1]}")
    console.print(f"latency model ({profile} profile) predicted {predicted_ms:.2f} ms for the"
                  f" {rows[0]['run']}, measured {rows[0]['median_ms']:.2f} ms")
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
            curve_server, engine: str, imported=None, engine_params: dict | None = None,
            compared: list | None = None, coding: Coding | None = None,
            owner_secret: Path | None = None) -> tuple[list[Row], dict]:
    """Every timed row (workers first, then one process per ``compared`` engine record on
    1 and all threads, timed in interleaved rounds) and the extras. ``imported``: a traced
    model (``--model``) to run instead of ``spec``'s architecture, on ``engine`` (torch or
    ONNX Runtime). ``coding``: the crossings' codecs (``--codec``, default raw), the
    accuracy of the workers' run measured against one exact process. ``owner_secret``: the
    file that proves to ``--owner-secret`` workers that this coordinator may deploy."""
    progress.step("loading torch")
    import torch
    from parawire.calibration.codec_choice import (
        DEFAULT_MAX_TOP1_CHANGE,
        calibration_set,
        choose,
        compare,
        exact_logits,
        place_sized,
    )
    from parawire.calibration.codecs import codec_cost
    from parawire.errors import ParawireError
    from parawire.executor.coordinator import Cluster
    from parawire.executor.estimate import check_process_memory
    from parawire.executor.local import LocalWorkers
    from parawire.executor.tiles import placed_plan, tiling_summary
    from parawire.executor.transport import transport_record
    from parawire.models.deploy import deployment_builder
    from parawire.network.nn import build_network
    from parawire.pipeline.build import build_architecture
    from parawire.registry.codecs import RAW_PLAN, exact_plan
    from parawire.registry.manager import get_plugins
    from parawire.score.hypergraph import image_bytes

    what = f"{imported.dag.nodes} blocks" if imported else f"{spec.generator}, {spec.nodes} vertices"
    with progress.timed(f"building and partitioning {what}, {units} units"):
        arch = imported if imported is not None else build_architecture(spec)
        coding = coding or Coding(RAW_PLAN, DEFAULT_MAX_TOP1_CHANGE, 32)
        check_process_memory(arch, coding.check_inputs)  # the image and the check inputs, before either exists

        def make_net():
            return imported.model if imported is not None else build_network(arch).eval()

        net = make_net()
        xs = calibration_set(spec.input_shape, coding.check_inputs, seed=spec.seed % 2**32)
        check = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = model_profile(profile, engine, engine_params)
            def place(codecs):  # any placement; a tiling's pieces go through their map's codec
                return placed_plan(arch, units, model, placement, partitioner, eps, params=partitioner_params,
                                   codecs=codecs, cost=lambda c: codec_cost(c, engine))

            if coding.codecs is None:  # --codec auto
                codecs, plan, check = choose(arch, net, model, place, lambda c: codec_cost(c, engine), xs,
                                             coding.max_top1_change)
            else:  # a compressor's bytes measured on this network's activations
                codecs, plan = place_sized(place, arch, net, coding.codecs, xs)
        x = torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(spec.seed))
        with torch.inference_mode():
            reference = net(x.clone())  # a forward may change its input in place (x.mul_)
            references = exact_logits(net, xs)

    workers = None
    try:
        if local:
            limit = start_timeout(timeout)
            with progress.timed(f"starting {units} local worker processes"), starting_workers(units, timeout, limit):
                allow = [imported.spec.factory] if imported else []
                in_process = transport_record(transport, transport_params)[0].in_process
                workers = LocalWorkers(units, transport, endpoint_kind, transport_params=transport_params,
                                       startup_timeout=limit, allow_models=allow,
                                       builder=deployment_builder(allow) if allow and in_process else None)
        with Cluster.connect(workers.endpoints if workers else list(endpoints), transport, timeout=timeout,
                             transport_params=transport_params, curve_secret=curve_secret,
                             curve_server=curve_server, owner_secret=owner_secret) as cluster:
            with progress.timed(f"deploying to {units} workers"):
                if imported is not None:
                    from parawire.models.deploy import deploy_model

                    deploy_model(cluster, imported, plan, engine=engine, timeout=timeout)
                else:
                    # the parameters travel in the DEPLOY: workers started elsewhere use them too
                    cluster.deploy(spec, plan, timeout=timeout, engine=engine, engine_params=engine_params or None)
            max_abs_diff = float((cluster.infer(x) - reference).abs().max())
            exact = exact_plan(codecs)
            if exact and not max_abs_diff <= 1e-5 + 1e-4 * float(reference.abs().max()):
                raise ParawireError(f"distributed outputs differ from the single-process ones (max |diff| {max_abs_diff:.3g})")
            accuracy = compare(references, torch.cat(cluster.infer_many([x[None] for x in xs])))
            kind = f"{transport}{'-' + endpoint_kind if transport == 'zmq' and local else ''}"
            configs = [Timed(f"{units} worker{'s' if units > 1 else ''} ({kind})", units, engine,
                             lambda: cluster.infer(x))]
            cores = os.cpu_count() or 1
            selected = get_plugins().engines.get(engine)
            with progress.timed("preparing the single-process runs"):
                configs += [single_process(make_net, record, engine_params if record is selected else None, x,
                                           reference, threads, imported)
                            for record in compared or [selected] for threads in sorted({1, cores})]
            rows = interleaved(progress, configs, runs)
            stats = cluster.stats()
    finally:
        if workers is not None:
            workers.close()
    notes = [str(w.message) for w in caught if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    if not exact and accuracy.weak:
        notes.append(accuracy.weak)
    return rows, {
        "predicted_s": plan.predicted_latency_s, "bytes": stats.lambda_bytes(image_bytes(arch)),
        "cut_bytes": plan.cut_bytes, "messages": stats.peer_messages / max(stats.inferences, 1),
        "max_abs_diff": max_abs_diff, "notes": list(dict.fromkeys(notes)),
        "tiling": tiling_summary(plan),
        "codec": codecs.label, "accuracy": accuracy.to_dict(), "codec_check": check,
    }
