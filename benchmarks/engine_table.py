"""The issue-13 table re-measured: one network, every way of running one inference.

    .venv/bin/python benchmarks/engine_table.py results/demo/most-concurrent.json --rounds 7
    .venv/bin/python benchmarks/engine_table.py results/demo/most-concurrent.json --rounds 7 --codec auto

Rows: torch eager (NCHW, as workers ran before engines), torch channels-last, ONNX
Runtime (one session; sequential on 1 and 2 intra-op threads, and the parallel executor
with 2 inter-op threads), 2 local worker processes over zmq ipc per engine (placed as
``parawire run --engine`` places them: balancing the engine's predicted time), and the
latency model's prediction for each. With ``--codec NAME`` (``--codec-param``) or
``--codec auto`` (per crossing the fastest the model finds within ``--max-top1-change``,
checked on a calibration set), each engine gets a second pair of workers whose
crossings go through that codec, placed for its bytes, in the same rounds as the raw
pair: the issue-23 comparison of 2 workers against ORT on 2 threads with and without
codecs. The rows are measured in interleaved rounds (each round times every row
``--runs`` times) and the median of the round medians is printed, so a load that comes and goes on a
shared machine hits every row alike. Distributed outputs are checked against torch
(a lossy codec's largest logit difference and top-1 class are printed instead).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path


def positive(text: str) -> int:
    """An argparse type: a count of at least 1 (0 rounds left every median empty: a traceback)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"got {text!r}; give a whole number ≥ 1")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", type=Path)
    parser.add_argument("--rounds", type=positive, default=5)
    parser.add_argument("--runs", type=positive, default=10)
    parser.add_argument("--codec", default="raw",
                        help="also run the workers with this codec on every crossing, or auto (per crossing "
                             "the fastest the latency model finds within --max-top1-change)")
    parser.add_argument("--codec-param", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter of --codec (repeatable)")
    parser.add_argument("--max-top1-change", type=float, default=0.005)
    args = parser.parse_args()

    import click
    from parawire.cli.options import codec_plan
    from parawire.cli.params import parse_params
    from parawire.errors import ParawireError

    from parawire.graph.spec import ArchitectureSpec

    try:  # a bad spec file, codec or parameter: one line before any work
        codecs = codec_plan(args.codec, parse_params(tuple(args.codec_param), "--codec-param"), auto=True)
        spec = ArchitectureSpec.load(args.spec)
    except (ParawireError, click.BadParameter) as exc:
        parser.error(exc.format_message() if isinstance(exc, click.BadParameter) else str(exc))

    import torch
    from parawire.calibration.codec_choice import calibration_set, choose
    from parawire.calibration.codecs import codec_cost
    from parawire.calibration.local import get_profile
    from parawire.engines.ort import unit_session
    from parawire.executor.coordinator import Cluster
    from parawire.executor.local import LocalWorkers
    from parawire.executor.tiles import placed_plan
    from parawire.network.nn import build_network
    from parawire.network.threads import torch_threads
    from parawire.pipeline.build import build_architecture
    from parawire.registry.codecs import RAW_PLAN, exact_plan

    warnings.filterwarnings("ignore")
    arch = build_architecture(spec)
    profiles = {e: get_profile("local", engine=e) for e in ("onnxruntime", "torch")}
    x = torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(spec.seed))
    torch.set_grad_enabled(False)
    net = build_network(arch).eval()
    reference = net(x)

    def placed(engine, profile, coded=RAW_PLAN):
        """The engine's plan as `parawire run --engine E --codec C` places it: for the encoded bytes."""
        return placed_plan(arch, 2, profile, codecs=coded, cost=lambda choice: codec_cost(choice, engine))

    def coded_plan(engine, profile):
        if codecs is not None:
            return placed(engine, profile, codecs)
        xs = calibration_set(spec.input_shape, 32, seed=spec.seed % 2**32)
        with torch_threads(1):
            chosen, plan, report = choose(arch, net, profile, lambda c: placed(engine, profile, c),
                                          lambda c: codec_cost(c, engine), xs, args.max_top1_change)
        print(f"--codec auto on {engine}: {chosen.label}; checked: {report}")
        return plan

    # each engine's workers get the placement `parawire run --engine` would make
    plans = {(e, "raw"): placed(e, p) for e, p in profiles.items()}
    if codecs != RAW_PLAN:
        for e, p in profiles.items():
            plan = coded_plan(e, p)
            if plan.codecs == RAW_PLAN:  # auto found nothing faster than float32: the raw row is that run
                print(f"{e}: --codec auto keeps raw; no codec row")
            else:
                plans[e, "codec"] = plan
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
        for (engine, _), plan in plans.items():
            workers = LocalWorkers(2)
            cluster = Cluster.connect(workers.endpoints)
            clusters.append((workers, cluster))
            cluster.deploy(spec, plan, engine=engine)
            out = cluster.infer(x)
            if exact_plan(plan.codecs):
                assert torch.allclose(out, reference, rtol=1e-4, atol=1e-4 * float(reference.abs().max()))
            else:
                print(f"{engine}, codec {plan.codecs.label}: max |Δ logit| {float((out - reference).abs().max()):.3g},"
                      f" top-1 {'same' if bool(out.argmax() == reference.argmax()) else 'changed'}")
            rows[row_name(engine, plan)] = (lambda c: lambda: c.infer(x))(cluster)
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
    for (engine, _), plan in plans.items():
        print(f"| latency model, {row_name(engine, plan).removeprefix('parawire, ')} | "
              f"{plan.predicted_latency_s * 1e3:.1f} | {best[0] / plan.predicted_latency_s:.2f}× |")
    print(f"best single process: {best[1]}")


def row_name(engine: str, plan) -> str:
    codec = "" if plan.codecs.label == "raw" else f", codec {plan.codecs.label}"
    return f"parawire, 2 local workers over ipc, {engine}{codec}"


if __name__ == "__main__":
    main()
