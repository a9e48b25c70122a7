"""``testbed run``: one architecture on 1, 2, 4 … emulated devices, measured beside the model.

For each device count the architecture is partitioned (under the chosen input policy),
deployed on the first devices of one testbed with one inference engine (default: the
fastest, :data:`parawire.registry.records.DEFAULT_ENGINE`; the single-device baseline runs the
same one), checked against the same network in this process (within 1e-4 relative:
engines compute in their own layouts and fusions) and timed; the traffic counters are
compared with the plan's Λ.

The prediction uses :func:`parawire.latency.profiles.preset_profile`: this machine's compute
calibrated for that engine (``local``) under the device's CPU quota, the tbf rate, and
the per-message cost measured here by round trips to a device. When the device counts
include 1, that single-device run (compute plus the image's and logits' transfer, no
concurrency) fits the one remaining free number, the engine's compute slow-down under
the quota; the other points are then predictions, not fits. Engines differ several-fold
in compute rate and in how a quota slows them, so the profile and its fitted scale
belong to one engine, and the record names it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from parawire.errors import ParawireError
from parawire.registry.codecs import RAW_PLAN
from parawire.testbed.presets import Preset

ECHO_ROUNDS = 20


def message_latency(cluster, rounds: int = ECHO_ROUNDS) -> float:
    """Half the fastest of ``rounds`` round trips of a ping to device 0 (ZeroMQ, CURVE, the
    shaped link). The fastest, not the median: on a busy machine a round trip mostly
    waits for the two processes to be scheduled (measured here: median 28 ms under a load
    of 12 on 2 cores, against 0.07 ms idle), which is not a cost of each message and which
    the model, charging it to every message on a link, would multiply by the message count."""
    rtts = []
    for _ in range(rounds):
        start = time.perf_counter()
        if not cluster.ping(timeout=5.0, units=[0])[0]:
            raise ParawireError("testbed: device 0 does not answer pings")
        rtts.append(time.perf_counter() - start)
    return min(rtts) / 2


def run_points(
    spec,
    devices: Sequence[int],
    preset: Preset,
    *,
    input_policy: str = "stem",
    engine: str | None = None,
    runs: int = 10,
    warmup: int = 2,
    partitioner: str = "multilevel",
    eps: float = 0.03,
    placement: str = "partition",
    timeout: float = 300.0,
    fit: bool = True,
    on_point: Callable[[dict], None] | None = None,
    codecs: Any = RAW_PLAN,
    max_top1_change: float = 0.005,
    check_inputs: int = 32,
) -> dict:
    """Measure and predict every device count with ``engine`` (``None``: the default
    engine); the ``{"points": [...], ...}`` record. ``codecs``: the crossings' codecs
    (a :class:`~parawire.registry.codecs.CodecPlan`, or ``None`` for ``--codec auto``,
    chosen per device count within ``max_top1_change``); every point reports its top-1
    agreement with one exact process on ``check_inputs`` images."""
    from parawire.registry.manager import resolve_engine

    engine = resolve_engine(engine)  # an unknown name fails here, before any work
    import torch
    from parawire.calibration.codec_choice import calibration_set, choose, compare, exact_logits
    from parawire.calibration.codecs import codec_cost
    from parawire.calibration.local import get_profile
    from parawire.calibration.timing import summary, timings
    from parawire.executor.plan import plan_for
    from parawire.latency.model import simulate, vertex_seconds
    from parawire.latency.profiles import fit_compute_scale, preset_profile
    from parawire.network.nn import build_network
    from parawire.network.threads import torch_threads
    from parawire.pipeline.build import build_architecture
    from parawire.pipeline.placement import check_placement, place_architecture
    from parawire.pipeline.wire import wire_of
    from parawire.registry.codecs import get_codec
    from parawire.score.hypergraph import check_input_policy, image_bytes
    from parawire.testbed.lifecycle import Testbed, signals_interrupt

    check_input_policy(input_policy)
    check_placement(placement)  # before any testbed exists
    counts = sorted(set(devices))
    if not counts or counts[0] < 1:
        raise ParawireError(f"--devices: got {list(devices)}; give device counts ≥ 1")
    arch = build_architecture(spec)
    dag, costs = arch.dag, arch.costs
    image = image_bytes(arch)
    x = torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(spec.seed))
    net = build_network(arch).eval()
    xs = calibration_set(spec.input_shape, check_inputs, seed=spec.seed % 2**32)
    with torch_threads(1), torch.inference_mode():
        reference = net(x)
        references = exact_logits(net, xs)
    base = get_profile("local", engine=engine)  # this machine's compute with the deployed engine
    points: list[dict] = []
    with signals_interrupt(), Testbed.up(counts[-1], preset) as bed:
        bed.start_workers()
        with bed.connect(timeout=timeout) as cluster:
            latency = message_latency(cluster)
            profile = preset_profile(preset, base, latency, engine=engine)
            for n in counts:
                def cost(choice):
                    return codec_cost(choice, engine)

                def place(wire, n=n):
                    return place_architecture(arch, n, profile, placement, partitioner, eps, input_policy=input_policy,
                                              wire=wire)

                check = None
                if n == 1:
                    coded, part = RAW_PLAN, place(None)  # nothing crosses
                elif codecs is None:
                    with torch_threads(1):
                        coded, part, check = choose(arch, net, profile, place, cost, xs, max_top1_change, input_policy)
                else:
                    coded, part = codecs, place(wire_of(arch, codecs, cost))
                wire = wire_of(arch, coded, cost)
                plan = plan_for(arch, part, units=n, input_policy=input_policy, codecs=coded, cost=cost)
                cluster.deploy(spec, plan, engine=engine)
                # engines compute in their own layouts: equal within float rounding (1e-4 relative)
                out = cluster.infer(x)
                exact = all(get_codec(c).exact for c in coded.choices())
                equal = bool((out - reference).abs().max() <= 1e-4 * reference.abs().max()) if exact else None
                accuracy = compare(references, torch.cat(cluster.infer_many([x[None] for x in xs])))
                median, p90 = summary(timings(lambda: cluster.infer(x), runs, warmup))
                stats = cluster.stats()
                measured_bytes = (stats.peer_bytes + stats.input_bytes) / stats.inferences - image
                if n == 1 and fit:
                    transfer = profile.idle_message_s(image) + profile.idle_message_s(float(costs.out_bytes[dag.output]))
                    compute = float(vertex_seconds(dag, costs.flops, costs.out_bytes, profile, costs.params).sum())
                    profile = preset_profile(preset, base, latency, fit_compute_scale(median, compute, transfer),
                                             engine=engine)
                predicted = simulate(dag, costs.flops, costs.out_bytes, part, profile, policy="ready",
                                     input_policy=input_policy, source_bytes=image, params=costs.params, wire=wire)
                point = {
                    "devices": n, "engine": engine, "measured_ms": round(median * 1e3, 3),
                    "p90_ms": round(p90 * 1e3, 3),
                    "predicted_ms": round(predicted * 1e3, 3), "bytes": round(measured_bytes),
                    "model_bytes": plan.cut_bytes, "messages": stats.peer_messages / stats.inferences,
                    "input_units": plan.input_units, "equal": equal,
                    "codec": coded.label, "accuracy": accuracy.to_dict(), "codec_check": check,
                }
                points.append(point)
                if on_point is not None:
                    on_point(point)
    base_ms = points[0]["measured_ms"] if counts[0] == 1 else None
    for p in points:
        p["speedup"] = round(base_ms / p["measured_ms"], 3) if base_ms else None
        p["error"] = round(p["predicted_ms"] / p["measured_ms"] - 1, 4)
    return {
        "arch": {"generator": spec.generator, "nodes": spec.nodes, "seed": spec.seed,
                 "input_shape": list(spec.input_shape)},
        "preset": preset.model_dump(), "input_policy": input_policy, "engine": engine, "placement": placement,
        "runs": runs,
        "profile": profile.model_dump(), "image_bytes": image, "points": points,
    }
