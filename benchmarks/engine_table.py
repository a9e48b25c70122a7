"""The issue-13 table re-measured: one network, every way of running one inference.

    .venv/bin/python benchmarks/engine_table.py results/demo/most-concurrent.json --rounds 7

Rows: torch eager (NCHW, as workers ran before engines), torch channels-last, ONNX
Runtime (one session; sequential on 1 and 2 intra-op threads, and the parallel executor
with 2 inter-op threads), 2 local worker processes over zmq ipc per engine (placed as
``parawire run --engine`` places them: balancing the engine's predicted time), and the
latency model's prediction for each. The
rows are measured in interleaved rounds (each round times every row ``--runs`` times)
and the median of the round medians is printed, so a load that comes and goes on a
shared machine hits every row alike. Distributed outputs are checked against torch.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    import torch
    from parawire.calibration.local import get_profile
    from parawire.engines.ort import unit_session
    from parawire.executor.coordinator import Cluster
    from parawire.executor.local import LocalWorkers
    from parawire.executor.plan import plan_for
    from parawire.graph.spec import ArchitectureSpec
    from parawire.network.nn import build_network
    from parawire.network.threads import torch_threads
    from parawire.pipeline.build import build_architecture
    from parawire.pipeline.placement import partition_architecture

    warnings.filterwarnings("ignore")
    spec = ArchitectureSpec.load(args.spec)
    arch = build_architecture(spec)
    profiles = {e: get_profile("local", engine=e) for e in ("onnxruntime", "torch")}
    # each engine's workers get the placement `parawire run --engine` would make
    plans = {e: plan_for(arch, partition_architecture(arch, 2, profile=p), p, units=2) for e, p in profiles.items()}
    x = torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(spec.seed))
    torch.set_grad_enabled(False)
    net = build_network(arch).eval()
    reference = net(x)
    nhwc = build_network(arch).eval().to(memory_format=torch.channels_last)
    dag = arch.dag
    one = {t: unit_session(net, dag.order, [dag.output], t)[0] for t in (1, 2)}
    parallel, _ = unit_session(net, dag.order, [dag.output], 1, inter_op=2)

    def threads(n, fn):
        def call():
            with torch_threads(n):
                return fn()
        return call

    rows = {
        "torch eager, 1 thread": threads(1, lambda: net(x)),
        "torch eager, 2 threads": threads(2, lambda: net(x)),
        "torch eager, channels_last, 1 thread": threads(1, lambda: nhwc(x)),
        "torch eager, channels_last, 2 threads": threads(2, lambda: nhwc(x)),
        "ONNX Runtime, sequential, 1 thread": lambda: one[1]([x]),
        "ONNX Runtime, sequential, 2 threads": lambda: one[2]([x]),
        "ONNX Runtime, parallel executor, 2 inter-op threads": lambda: parallel([x]),
    }
    clusters = []
    try:
        for engine in ("onnxruntime", "torch"):
            workers = LocalWorkers(2)
            cluster = Cluster.connect(workers.endpoints)
            clusters.append((workers, cluster))
            cluster.deploy(spec, plans[engine], engine=engine)
            assert torch.allclose(cluster.infer(x), reference, rtol=1e-4, atol=1e-4 * float(reference.abs().max()))
            rows[f"parawire, 2 local workers over ipc, {engine}"] = (lambda c: lambda: c.infer(x))(cluster)
        medians: dict[str, list[float]] = {name: [] for name in rows}
        for _ in range(args.rounds):
            for name, fn in rows.items():
                for _ in range(2):
                    fn()
                times = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    fn()
                    times.append(time.perf_counter() - t0)
                medians[name].append(statistics.median(times))
    finally:
        for workers, cluster in clusters:
            cluster.close()
            workers.close()
    best = min((statistics.median(v), k) for k, v in medians.items() if "parawire" not in k)
    print(f"{args.spec.name}: {spec.generator}, {spec.nodes} vertices, {tuple(spec.input_shape)}; "
          f"load average {Path('/proc/loadavg').read_text().split()[0]}")
    print("| run | ms | vs best single process |\n|---|---|---|")
    for name, values in medians.items():
        ms = statistics.median(values)
        print(f"| {name} | {ms * 1e3:.1f} | {best[0] / ms:.2f}× |")
    for engine, plan in plans.items():
        print(f"| latency model, 2 workers, {engine} | {plan.predicted_latency_s * 1e3:.1f} | "
              f"{best[0] / plan.predicted_latency_s:.2f}× |")
    print(f"best single process: {best[1]}")


if __name__ == "__main__":
    main()
