"""``parawire testbed``: an emulated edge cluster on this machine (docs/testbed.md).

``up``/``down``/``status`` manage a persistent testbed (namespaces, shaped links,
cgroups) that a person can inspect with ``ip``/``tc``; ``run`` makes its own, measures
one architecture (generated, or a PyTorch ``--model`` imported as ``parawire run
--model`` imports it) on several device counts beside the latency model, and removes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.core import ParameterSource
from parawire.cli.models import (
    check_model_engine,
    load_model,
    model_options,
    model_workload,
    one_source,
)
from parawire.cli.options import (
    NumberList,
    codec_options,
    codec_plan,
    finite_floats,
    own_default,
    placement_option,
    plugin_names,
)
from parawire.calibration.timing import MAX_TIMED_RUNS
from parawire.cli.params import param_option
from parawire.errors import ParawireError
from parawire.testbed.calibrate import MAX_RUNS, MIN_RUNS, RUNS
from parawire.testbed.presets import MAX_RATE_MBIT, MIN_RATE_MBIT, PRESETS
from parawire.testbed.rounds import ROUNDS


def preset_options(command):
    """--preset and the fields it may override, shared by ``up`` and ``run``."""
    for decorator in reversed((
        click.option("--preset", default="t2.micro", show_default=True, type=click.Choice(sorted(PRESETS)),
                     help="device class (docs/testbed.md)"),
        click.option("--cpu", type=click.FloatRange(min=0, min_open=True, max=1), help="cores per device  [default: the preset's]"),
        click.option("--rate-mbit", type=click.FloatRange(MIN_RATE_MBIT, MAX_RATE_MBIT), help="link rate each way  [default: the preset's]"),
        click.option("--burst-kb", type=click.IntRange(min=2), help="tbf bucket size  [default: the preset's]"),
        click.option("--network", type=click.Choice(["switched", "shared"]),
                     help="one shaped link per device, or one shared medium  [default: the preset's]"),
    )):
        command = decorator(command)
    return command


def resolve_preset(preset, cpu, rate_mbit, burst_kb, network):
    from parawire.testbed.presets import get_preset

    return get_preset(preset, cpu=cpu, rate_mbit=rate_mbit, burst_kb=burst_kb, network=network)


def arch_spec(arch: str, nodes: int, seed: int, size: int):  # type: ignore[no-untyped-def]
    """ARCH's spec: a spec file (``-``: on stdin), or a generator name with ``--nodes``,
    ``--seed`` and ``--size``."""
    from parawire.cli.inputs import DASH, load_spec
    from parawire.graph.spec import ArchitectureSpec
    from parawire.registry.manager import get_plugins

    if Path(arch) == DASH or Path(arch).is_file():
        return load_spec(Path(arch))
    spec = ArchitectureSpec.parse({"generator": arch, "nodes": nodes, "seed": seed,
                                   "input_shape": (3, size, size)}, source="ARCH")
    get_plugins().generators.get(spec.generator)
    return spec


def generator_only(*options: tuple[str, str]) -> None:
    """Refuse, in one line, generator options typed beside ``--model`` (they would be ignored)."""
    ctx = click.get_current_context()
    given = [flag for name, flag in options if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE]
    if given:
        raise ParawireError(f"{', '.join(given)}: only when ARCH is a generator; a --model's blocks are its"
                            " trace's and its image is --input-shape C H W")


@click.group()
def testbed() -> None:
    """Emulated devices: network namespaces, tbf-shaped links, CFS CPU quotas (root only)."""


@testbed.command()
@click.option("--devices", type=click.IntRange(min=1), default=2, show_default=True)
@preset_options
def up(devices, **preset):
    """Create a persistent testbed (removed by `parawire testbed down`)."""
    from parawire.testbed.lifecycle import Testbed

    bed = Testbed.up(devices, resolve_preset(**preset), persistent=True)
    click.echo(f"testbed {bed.name}: coordinator {bed.address(None)} on {bed.name}-br")
    for i in range(devices):
        click.echo(f"  device {i}: namespace {bed.namespace(i)}, address {bed.address(i)}, "
                   f"cgroup /sys/fs/cgroup/cpu/{bed.name}/d{i}")


@testbed.command()
def down():
    """Remove every testbed and leftover (everything named pw-XXXX)."""
    from parawire.testbed.lifecycle import remove_all, require

    require()
    found = remove_all()
    click.echo(f"removed {', '.join(found)}" if found else "no testbed found")


@testbed.command()
@click.option("--json", "as_json", is_flag=True)
def status(as_json):
    """List testbeds and leftovers, and what this machine lacks for one."""
    from parawire.testbed.lifecycle import status as found
    from parawire.testbed.system import TestbedError, missing

    lacks = missing()
    try:
        beds = found()
    except TestbedError:  # no iproute2: nothing can have been built either
        beds = []
    if as_json:
        click.echo(json.dumps({"missing": lacks, "testbeds": beds}, indent=2))
        return
    for line in lacks:
        click.echo(f"missing: {line}")
    for bed in beds:
        click.echo(f"{bed['name']}: {bed['devices']} devices, {bed['state']}, subnet {bed['subnet']}")
    if not lacks and not beds:
        click.echo("no testbed; this machine has everything one needs")


@testbed.command()
@preset_options
@click.option("--engine", default=None, shell_complete=plugin_names("engines"),
              help="inference engine of the devices (default: onnxruntime)")
@click.option("--runs", "-r", "-n", "runs", type=click.IntRange(MIN_RUNS, MAX_RUNS), default=RUNS, show_default=True,
              help="timed inferences (-n kept for older scripts)")
def calibrate(engine, runs, **preset):
    """Measure what a message costs a device (link latency, CPU on both ends) and what its
    CPU quota allows, and save them for this preset and engine; `testbed run` uses them
    (docs/testbed.md)."""
    from parawire.registry.manager import resolve_engine
    from parawire.testbed import calibrate as measure
    from parawire.testbed.lifecycle import Testbed, signals_interrupt

    engine = resolve_engine(engine)
    with signals_interrupt(), Testbed.up(2, resolve_preset(**preset)) as bed:
        bed.start_workers()
        with bed.connect() as cluster:
            record = measure.calibrate(bed, cluster, engine, runs)
    reserve = (f", {record['cpu_reserve_s'] * 1e3:.2f} ms CPU kept across quota periods (fit "
               f"{record['quota_fit_error']:.0%})" if "cpu_reserve_s" in record else "")
    link = measure.link_latency(record["message_latency_s"], record["message_cpu_s"])
    click.echo(f"{record['preset']} ({engine}): {record['message_latency_s'] * 1e3:.3f} ms half round trip "
               f"({link * 1e3:.3f} ms on the link), {record['message_cpu_s'] * 1e3:.3f} ms per message end "
               f"(fitted end to end; {record['message_cpu_measured_s'] * 1e3:.3f} ms of device CPU), "
               f"{record['call_s'] * 1e3:.3f} ms per engine call{reserve} "
               f"(load {record['loadavg']}); saved to {record['path']}")


@testbed.command()
@click.argument("arch", required=False)
@click.option("--devices", cls=NumberList, type=click.IntRange(min=1), multiple=True, required=True,
              help="device counts, e.g. --devices 1 2 4 (1 is the baseline)")
@preset_options
@click.option("--input-policy", type=click.Choice(["stem", "scatter"]), default="stem", show_default=True,
              help="stem: the stem's output crosses; scatter: the image goes to every unit that runs the stem")
@click.option("--nodes", type=click.IntRange(min=2), default=40, show_default=True, help="when ARCH is a generator")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="when ARCH is a generator")
@click.option("--size", type=click.IntRange(min=8), default=32, show_default=True,
              help="image side in pixels, when ARCH is a generator")
@click.option("--engine", default=None, shell_complete=plugin_names("engines"),
              help="inference engine of every device, the 1-device baseline included "
                   "(default: onnxruntime, the fastest; see `parawire plugins`)")
@param_option("engine")
@click.option("--runs", "-r", "-n", "runs", type=click.IntRange(1, MAX_TIMED_RUNS), default=10, show_default=True,
              help="timed inferences per device count (-n kept for older scripts)")
@click.option("--rounds", type=click.IntRange(min=1), default=ROUNDS, show_default=True,
              help="rounds the runs are spread over, every device count measured in each (the devices drift)")
@click.option("--partitioner", default="multilevel", show_default=True, callback=own_default("partitioners"))
@click.option("--eps", type=finite_floats(), default=0.03, show_default=True, help="imbalance bound")
@placement_option
@click.option("--no-fit", is_flag=True, help="predict without fitting compute to the 1-device run")
@codec_options(auto=True)
@click.option("--json", "as_json", is_flag=True, help="print the points as JSON")
@model_options
def run(arch, devices, input_policy, nodes, seed, size, engine, engine_params, runs, rounds, partitioner, eps, placement,
        no_fit, codec, codec_params, max_top1_change, check_inputs, as_json, model, input_shape, min_flops,
        merge_elementwise, **preset):
    """Measure ARCH (a spec file, - for one on stdin, or a generator name), or a --model, on each
    device count."""
    from parawire.calibration.codec_choice import Accuracy
    from parawire.pipeline.placement import check_placement
    from parawire.testbed.breakdown import bottleneck
    from parawire.testbed.runner import run_points

    one_source(arch, model, "ARCH")
    check_placement(placement)
    codecs = codec_plan(codec, codec_params, auto=True)
    if model is not None:
        generator_only(("nodes", "--nodes"), ("size", "--size"))
        check_model_engine(engine)  # before the import's seconds
        what = model_workload(load_model(model, input_shape, min_flops, merge_elementwise))
    else:
        what = arch_spec(arch, nodes, seed, size)

    def show(point: dict) -> None:
        if not as_json:
            lossy = point["equal"] is None  # a lossy plan is judged by its agreement, not equality
            weak = Accuracy(**point["accuracy"]).weak if lossy else None
            click.echo(f"{point['devices']} devices ({point['engine']}): {point['measured_ms']:.1f} ms measured, "
                       f"{point['predicted_ms']:.1f} ms predicted, {point['bytes']} B "
                       f"(model {point['model_bytes']}), {point['codec']}, top-1 agreement "
                       f"{point['accuracy']['top1_agreement']:.1%}{f' ({weak})' if weak else ''}"
                       f"{'' if point['equal'] is not False else ', outputs DIFFER'}")
            if point["devices"] > 1 and point.get("kernel"):
                click.echo(f"  where the time goes: {bottleneck(point['kernel'], point['measured_ms'], bed.cpu)}")

    bed = resolve_preset(**preset)
    record = run_points(what, devices, bed, input_policy=input_policy, engine=engine,
                        engine_params=engine_params, runs=runs, partitioner=partitioner, eps=eps, placement=placement,
                        fit=not no_fit, on_point=show, codecs=codecs, max_top1_change=max_top1_change,
                        check_inputs=check_inputs, rounds=rounds)
    if as_json:
        click.echo(json.dumps(record, indent=2))
