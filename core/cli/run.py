"""``parawire run``: one architecture, distributed over workers, timed against one process.

Prints the measured latency of one inference on the workers (median and p90 of ``-n``
runs) beside the same network in this process on 1 thread and on all threads (intra-op
parallelism, the status quo), and the latency model's prediction for the same plan.
"""

from __future__ import annotations

import os
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import click
from parawire.cli.params import param_option
from rich.console import Console
from rich.table import Table


def timings(fn: Callable[[], object], n: int, warmup: int = 3) -> list[float]:
    """Seconds per call, ``n`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def summary(times: list[float]) -> tuple[float, float]:
    """Median and 90th percentile."""
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def single_process(net, x, n: int, threads: int) -> list[float]:
    import torch
    from parawire.threads import torch_threads

    with torch_threads(threads), torch.inference_mode():
        return timings(lambda: net(x), n)


@click.command()
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--units", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--local", "local", is_flag=True, help="start the workers here, on loopback")
@click.option("--endpoint", "endpoints", multiple=True, help="a running worker (repeat, one per unit)")
@click.option("--transport", default="zmq", show_default=True,
              help="transport plugin (zmq, inproc, or a third party's; see `parawire plugins`)")
@param_option("transport")
@click.option("--endpoint-kind", type=click.Choice(["ipc", "tcp"]), default="ipc", show_default=True)
@click.option("-n", "runs", type=click.IntRange(min=1), default=50, show_default=True, help="timed inferences")
@click.option("--partitioner", default="multilevel", show_default=True)
@param_option("partitioner")
@click.option("--eps", type=click.FloatRange(min=0), default=0.03, show_default=True, help="imbalance bound")
@click.option("--profile", default="local", show_default=True,
              help="latency model profile for the prediction (local = calibrated here, edge, lan)")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True)
def run(spec_file, units, local, endpoints, transport, transport_params, endpoint_kind, runs, partitioner,
        partitioner_params, eps, profile, timeout):
    """Run SPEC_FILE on UNITS workers and compare with one process."""
    import torch
    from parawire.architecture import build_architecture
    from parawire.errors import ParawireError
    from parawire.executor.coordinator import Cluster
    from parawire.executor.local import LocalWorkers
    from parawire.executor.plan import partition_architecture, plan_for
    from parawire.nn import build_network
    from parawire.profiles import get_profile
    from parawire.spec import ArchitectureSpec

    if local == bool(endpoints):
        raise ParawireError("give either --local (start workers here) or one --endpoint per unit")
    if endpoints and len(endpoints) != units:
        raise ParawireError(f"--endpoint: got {len(endpoints)}; need one per unit ({units})")
    spec = ArchitectureSpec.load(spec_file)
    arch = build_architecture(spec)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        part = partition_architecture(arch, units, partitioner, eps, params=partitioner_params)
    plan = plan_for(arch, part, get_profile(profile), units=units)
    x = torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(spec.seed))
    net = build_network(arch).eval()
    with torch.inference_mode():
        reference = net(x)

    workers = LocalWorkers(units, transport, endpoint_kind, transport_params=transport_params) if local else None
    try:
        with Cluster.connect(workers.endpoints if workers else list(endpoints), transport, timeout=timeout,
                             transport_params=transport_params) as cluster:
            cluster.deploy(spec, plan)
            if not torch.allclose(cluster.infer(x), reference, rtol=1e-4, atol=1e-5):
                raise ParawireError("distributed logits differ from the single-process ones")
            distributed = timings(lambda: cluster.infer(x), runs)
            stats = cluster.stats()
    finally:
        if workers is not None:
            workers.close()
    cores = os.cpu_count() or 1
    rows = [
        (f"{units} workers ({transport}{'-' + endpoint_kind if transport == 'zmq' else ''})", distributed),
        ("1 process, 1 thread", single_process(net, x, runs, 1)),
        (f"1 process, {cores} threads", single_process(net, x, runs, cores)),
    ]
    base = summary(rows[1][1])[0]
    table = Table(title=f"{spec_file.name}: {spec.generator}, {spec.nodes} vertices, {units} units ({partitioner})")
    for column in ("run", "median ms", "p90 ms", "speed-up vs 1 thread"):
        table.add_column(column, justify="right")
    for name, times in rows:
        median, p90 = summary(times)
        table.add_row(name, f"{median * 1e3:.2f}", f"{p90 * 1e3:.2f}", f"{base / median:.2f}×")
    table.add_row(f"model ({profile})", f"{plan.predicted_latency_s * 1e3:.2f}", "", f"{base / plan.predicted_latency_s:.2f}×")
    console = Console()
    console.print(table)
    console.print(
        f"bytes between units per inference: {stats.bytes_per_inference:.0f} (partition Λ = {plan.cut_bytes});"
        f" {stats.peer_messages / max(stats.inferences, 1):.1f} messages"
    )
    for w in caught:
        console.print(f"note: {w.message}")
