"""How close the latency model (``local`` profile) comes to measured inference latency.

    .venv/bin/python benchmarks/prediction_accuracy.py            # dp and er, 40 vertices, 2 units, both engines
    .venv/bin/python benchmarks/prediction_accuracy.py --generators dp --engines onnxruntime --runs 50 --cached

For each generator: a 40-vertex network at 3×32×32 (seed 0) partitioned by
``multilevel`` on 2 units (as ``parawire run`` does), for each inference engine with
its own ``local`` profile. Measured: one process on one thread (wall and CPU time of the
engine's whole network: torch's ``net(x)``, one ORT session) and 2 local worker
processes over zmq ipc on that engine (wall time of ``Cluster.infer``), medians of ``--runs``. Predicted: ``simulate`` with
everything on one unit (k = 1), and with the partition under the static and the
ready-first policy (the workers run whatever has arrived). The profile is calibrated
afresh unless ``--cached``. The script re-executes itself once with the workers'
allocator settings (``LocalWorkers``), so the single process and the calibration see
the same malloc behaviour as the workers. ``/proc/loadavg`` is printed before and
after: on a loaded machine wall times exceed what the (CPU-time calibrated) model
predicts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def medians(fn, runs: int, clock=time.perf_counter) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def main() -> None:
    from parawire.executor.local import ALLOCATOR_ENV

    if any(os.environ.get(k) != v for k, v in ALLOCATOR_ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **ALLOCATOR_ENV})

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generators", nargs="+", default=["dp", "er"])
    parser.add_argument("--engines", nargs="+", default=["onnxruntime", "torch"])
    parser.add_argument("--nodes", type=int, default=40)
    parser.add_argument("--units", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--cached", action="store_true", help="use the cached local profile")
    args = parser.parse_args()

    import numpy as np
    import torch
    from parawire.calibration.local import calibrate, get_profile
    from parawire.executor.coordinator import Cluster
    from parawire.executor.local import LocalWorkers
    from parawire.executor.plan import plan_for
    from parawire.graph.spec import ArchitectureSpec
    from parawire.latency.model import simulate
    from parawire.network.nn import build_network
    from parawire.pipeline.build import build_architecture
    from parawire.pipeline.placement import partition_architecture
    from parawire.registry.manager import get_plugins

    warnings.filterwarnings("ignore")
    print(f"load average before: {loadavg()}  (cores: {os.cpu_count()})")
    for engine in args.engines:
        t0 = time.perf_counter()
        if args.cached:
            profile = get_profile("local", engine=engine)
        else:
            profile = calibrate(path=Path(tempfile.mkdtemp()) / "profile.json", refresh=True, engine=engine)
        print(f"{engine} profile: {profile.flops_per_s / 1e9:.2f} GMAC/s, {profile.vertex_overhead_s * 1e6:.0f} µs/vertex, "
              f"{profile.input_overhead_s * 1e6:.0f} µs/input, memory "
              f"{'-' if profile.memory_bytes_per_s is None else f'{profile.memory_bytes_per_s / 1e9:.2f} GB/s'}, "
              f"weights {'-' if profile.weight_bytes_per_s is None else f'{profile.weight_bytes_per_s / 1e9:.2f} GB/s'}, "
              f"{profile.message_latency_s * 1e6:.0f} µs/message, {profile.bandwidth_bytes_per_s / 1e9:.2f} GB/s"
              f"{'' if args.cached else f' (calibrated in {time.perf_counter() - t0:.1f} s)'}")

        header = f"{'network':<12} {'run':<22} {'measured ms':>11} {'predicted ms':>12} {'measured/predicted':>18}"
        print(header)
        print("-" * len(header))
        for gen in args.generators:
            spec = ArchitectureSpec(generator=gen, nodes=args.nodes, seed=args.seed, input_shape=(3, 32, 32))
            arch = build_architecture(spec)
            dag, flops, out_bytes, params = arch.dag, arch.costs.flops, arch.costs.out_bytes, arch.costs.params
            part = partition_architecture(arch, args.units)
            plan = plan_for(arch, part, units=args.units)
            one = simulate(dag, flops, out_bytes, np.zeros_like(part), profile, params=params)
            static = simulate(dag, flops, out_bytes, part, profile, params=params)
            ready = simulate(dag, flops, out_bytes, part, profile, policy="ready", params=params)
            net = get_plugins().engines.get(engine).whole(net=build_network(arch).eval(), threads=1)
            x = torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(spec.seed))
            torch.set_num_threads(1)
            with torch.inference_mode():
                wall = medians(lambda: net(x), args.runs)  # noqa: B023 (called at once)
                cpu = medians(lambda: net(x), args.runs, clock=time.thread_time)  # noqa: B023
            with LocalWorkers(args.units, "zmq", "ipc") as workers, Cluster.connect(workers.endpoints) as cluster:
                cluster.deploy(spec, plan, engine=engine)
                dist = medians(lambda: cluster.infer(x), args.runs)  # noqa: B023
                stats = cluster.stats()
            name = f"{gen}{args.nodes} {engine[:5]}"
            rows = [
                ("1 process, 1 thread", wall, one),
                ("  same, CPU time", cpu, one),
                (f"{args.units} workers ipc (ready)", dist, ready),
                (f"{args.units} workers ipc (static)", dist, static),
            ]
            for label, measured, predicted in rows:
                print(f"{name:<12} {label:<22} {measured * 1e3:>11.2f} {predicted * 1e3:>12.2f} "
                      f"{measured / predicted:>18.2f}")
            print(f"{'':<12} {stats.peer_messages / max(stats.inferences, 1):.0f} messages, "
                  f"{stats.bytes_per_inference / 1e3:.0f} KB between units per inference; "
                  f"model speed-up {one / ready:.2f}×, measured {wall / dist:.2f}×")
    print(f"load average after: {loadavg()}")


if __name__ == "__main__":
    main()
