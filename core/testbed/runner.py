"""``testbed run``: one architecture on 1, 2, 4 … emulated devices, measured beside the model.

The architecture is a generated one or an imported PyTorch model (``--model``, a
:class:`~parawire.testbed.workload.Workload`): both are placed by predicted time as
``parawire run`` places them (:func:`point_plan`), so one device is the whole model on
the deployed engine (on ONNX Runtime: the unit's blocks fused into one session).

For each device count the architecture is partitioned (under the chosen input policy),
deployed on the first devices of one testbed with one inference engine (default: the
fastest, :data:`parawire.registry.records.DEFAULT_ENGINE`; the single-device baseline runs the
same one), checked against the same network in this process (within 1e-4 relative:
engines compute in their own layouts and fusions) and timed; the traffic counters are
compared with the plan's Λ.

The prediction uses :func:`parawire.latency.profiles.preset_profile`: this machine's compute
calibrated for that engine (``local``) under the device's CPU quota as a CFS budget (with
the reserve the kernel lets a device keep across periods), the tbf rate, the link latency
measured here by round trips to a device, and each message's CPU time on the devices
(reserve and message CPU from ``parawire testbed calibrate``, measured first if not saved).
Timed inferences are spaced by two CFS periods, so each starts on idle devices, and
every device count is measured in each of ``rounds`` rounds (:mod:`parawire.testbed.rounds`:
the devices drift between minutes). When the device counts
include 1, that single-device run (compute plus the image's and logits' transfer, no
concurrency) fits the one remaining free number, the engine's compute slow-down under
the quota; the other points are then predictions, not fits. Engines differ several-fold
in compute rate and in how a quota slows them, so the profile and its fitted scale
belong to one engine, and the record names it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from parawire.errors import ParawireError
from parawire.registry.codecs import RAW_PLAN, exact_plan
from parawire.testbed.calibrate import MAX_RUNS, MIN_RUNS, RUNS
from parawire.testbed.presets import Preset
from parawire.testbed.rounds import ROUNDS, merge, split_runs
from parawire.testbed.workload import Workload, spec_workload


PLACEMENT_RUNS = 5
"""Spaced single-device runs that fit the compute the other counts are placed for
(before the rounds; the points' own fit uses every round's runs)."""


def point_plan(workload: Workload, n: int, profile, *, engine: str, input_policy: str = "stem",
               placement: str = "partition", partitioner: str = "multilevel", eps: float = 0.03,
               codecs: Any = RAW_PLAN, max_top1_change: float = 0.005, xs=None):  # type: ignore[no-untyped-def]
    """(plan, its codecs, ``--codec auto``'s check or None) of ``workload`` on ``n``
    devices of ``profile``: placed by predicted time, as ``run`` places; ``codecs=None``
    chooses per crossing on the images ``xs`` within ``max_top1_change``."""
    from parawire.calibration.codec_choice import choose, place_sized
    from parawire.calibration.codecs import codec_cost
    from parawire.executor.tiles import placed_plan
    from parawire.network.threads import torch_threads

    arch = workload.arch

    def cost(choice):  # type: ignore[no-untyped-def]
        return codec_cost(choice, engine)

    def place(coded):  # type: ignore[no-untyped-def]  # any placement; a tiling's pieces through their map's codec
        return placed_plan(arch, n, profile, placement, partitioner, eps, input_policy=input_policy, codecs=coded,
                           cost=cost)

    if codecs is None and n > 1:  # --codec auto
        with torch_threads(1):
            coded, plan, check = choose(arch, workload.net, profile, place, cost, xs, max_top1_change)
        return plan, coded, check
    if n == 1 or codecs is None:  # one device: nothing crosses
        return place(RAW_PLAN), RAW_PLAN, None
    if xs is None:
        return place(codecs), codecs, None
    codecs, plan = place_sized(place, arch, workload.net, codecs, xs)  # a compressor's bytes, measured
    return plan, codecs, None


def run_points(
    what,
    devices: Sequence[int],
    preset: Preset,
    *,
    input_policy: str = "stem",
    engine: str | None = None,
    engine_params: dict | None = None,
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
    rounds: int = ROUNDS,
    calibration_runs: int = RUNS,
) -> dict:
    """Measure and predict ``what`` (an :class:`~parawire.graph.spec.ArchitectureSpec`,
    or a :class:`~parawire.testbed.workload.Workload` such as an imported model) on every
    device count with ``engine`` (``None``: the default engine) and its
    ``engine_params`` on every worker; the ``{"points": [...], ...}`` record.
    ``codecs``: the crossings' codecs (a :class:`~parawire.registry.codecs.CodecPlan`, or
    ``None`` for ``--codec auto``, chosen per device count within ``max_top1_change``);
    every point reports its top-1 agreement with one exact process on ``check_inputs``
    images. The ``runs`` timed inferences of each count are spread over ``rounds``
    rounds, every count measured in each (:mod:`parawire.testbed.rounds`). A preset and
    engine with no saved calibration is calibrated first, with ``calibration_runs`` timed
    inferences per network."""
    from parawire.registry.manager import get_plugins, resolve_engine

    engine = resolve_engine(engine)  # an unknown name or a bad parameter fails here, before any work
    engine_params = get_plugins().engines.get(engine).resolve(engine_params).model_dump(mode="json",
                                                                                          exclude_unset=True)
    import torch
    from parawire.calibration.codec_choice import calibration_set, exact_logits
    from parawire.calibration.codec_choice import compare as top1_compare
    from parawire.calibration.codecs import codec_cost
    from parawire.calibration.local import get_profile
    from parawire.calibration.timing import summary, timings
    from parawire.executor.estimate import check_process_memory
    from parawire.executor.tiles import plan_seconds, predicted_s, tiling_summary
    from parawire.latency.profiles import TCP_EFFICIENCY, fit_compute_scale
    from parawire.network.threads import torch_threads
    from parawire.pipeline.placement import check_placement
    from parawire.score.hypergraph import check_input_policy, image_bytes
    from parawire.testbed import calibrate, counters
    from parawire.testbed.breakdown import compare
    from parawire.testbed.lifecycle import Testbed, signals_interrupt

    workload = what if isinstance(what, Workload) else spec_workload(what)
    check_input_policy(input_policy)
    check_placement(placement)  # before any testbed exists
    chunks = split_runs(runs, rounds)  # bad runs or rounds fail here, before the testbed is up
    if not MIN_RUNS <= calibration_runs <= MAX_RUNS:
        raise ParawireError(f"calibration_runs: got {calibration_runs}; use {MIN_RUNS} to {MAX_RUNS}")
    counts = sorted(set(devices))
    if not counts or counts[0] < 1:
        raise ParawireError(f"--devices: got {list(devices)}; give device counts ≥ 1")
    arch, net = workload.arch, workload.net
    spec = arch.spec
    image = image_bytes(arch)
    check_process_memory(arch, check_inputs)  # the baseline's image and the check inputs, before either exists
    x = torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(spec.seed))
    xs = calibration_set(spec.input_shape, check_inputs, seed=spec.seed % 2**32)
    with torch_threads(1), torch.inference_mode():
        reference = net(x)
        references = exact_logits(net, xs)
    base = get_profile("local", engine=engine)  # this machine's compute with the deployed engine
    points: list[dict] = []
    with signals_interrupt(), Testbed.up(counts[-1], preset) as bed:
        bed.start_workers(engine_params=engine_params, allow_models=workload.allow_models)
        with bed.connect(timeout=timeout) as cluster:
            saved = calibrate.load(preset, engine)
            if saved is None and counts[-1] >= 2:
                saved = calibrate.calibrate(bed, cluster, engine, calibration_runs)
            half_rtt = calibrate.message_latency(cluster)  # this testbed's own round trip, now

            def profile_at(scale: float = 1.0):  # type: ignore[no-untyped-def]
                return calibrate.calibrated_profile(preset, base, half_rtt, saved, engine=engine, compute_scale=scale)

            profile = profile_at()
            shared = preset.network == "shared"
            rate = profile.bandwidth_bytes_per_s / TCP_EFFICIENCY

            def cost(choice):
                return codec_cost(choice, engine)

            def predict(profile, plan):  # end to end, tiles or not, codecs at their calibrated cost
                return predicted_s(arch, plan, profile, cost=cost)

            setups: dict[int, dict] = {}
            for n in counts:  # place, deploy and check each count once
                plan, coded, check = point_plan(workload, n, profile, engine=engine, input_policy=input_policy,
                                                placement=placement, partitioner=partitioner, eps=eps,
                                                codecs=codecs, max_top1_change=max_top1_change, xs=xs)
                workload.deploy(cluster, plan, engine)
                # engines compute in their own layouts: equal within float rounding (1e-4 relative);
                # a lossy codec is judged by its top-1 agreement instead
                out = cluster.infer(x)
                exact = exact_plan(coded)
                equal = bool((out - reference).abs().max() <= 1e-4 * reference.abs().max()) if exact else None
                accuracy = top1_compare(references, torch.cat(cluster.infer_many([x[None] for x in xs])))
                setups[n] = {"plan": plan, "coded": coded, "check": check, "equal": equal, "accuracy": accuracy,
                             "times": [], "rounds": []}
                if n == 1 and fit and len(counts) > 1:  # the counts above are placed for devices this fast
                    quick = timings(lambda: cluster.infer(x), PLACEMENT_RUNS, warmup, on_run=calibrate.idle)
                    profile = profile_at(fit_compute_scale(summary(quick)[0], lambda s: predict(profile_at(s), plan)))
            deployed = counts[-1]
            for chunk in chunks:
                for n in counts:  # every count in every round: the same states of the machine for all
                    setup = setups[n]
                    if n != deployed:
                        workload.deploy(cluster, setup["plan"], engine)
                        deployed = n
                    for _ in range(warmup):
                        cluster.infer(x)
                    pids = [w.pid for w in bed.workers[:n]]
                    before, snap = cluster.stats(), counters.snapshot(bed.name, pids, shared)
                    window = counters.InferenceCpu(pids)

                    def between(window=window) -> None:
                        """Idle devices at every start (full CFS budgets), as the model assumes."""
                        window.close()
                        calibrate.idle()
                        window.open()

                    window.open()
                    setup["times"] += timings(lambda: cluster.infer(x), chunk, 0, on_run=between)
                    kernel = counters.per_inference(snap, counters.snapshot(bed.name, pids, shared), chunk, rate,
                                                    window.total)
                    setup["rounds"].append((chunk, before, cluster.stats(), kernel))
            if 1 in setups and fit:
                one = setups[1]
                profile = profile_at(fit_compute_scale(summary(one["times"])[0],
                                                       lambda s: predict(profile_at(s), one["plan"])))
            for n in counts:
                setup, plan = setups[n], setups[n]["plan"]
                model_s = plan_seconds(arch, plan, profile)
                median, p90 = summary(setup["times"])
                weights = [chunk for chunk, *_ in setup["rounds"]]
                stats = setup["rounds"][-1][2]
                point = {
                    "devices": n, "engine": engine, "measured_ms": round(median * 1e3, 3),
                    "p90_ms": round(p90 * 1e3, 3),
                    "predicted_ms": round(predict(profile, plan) * 1e3, 3), "bytes": round(stats.lambda_bytes(image)),
                    "model_bytes": plan.cut_bytes, "messages": stats.peer_messages / stats.inferences,
                    "input_units": plan.input_units, "equal": setup["equal"], "partition": plan.partition,
                    "units": merge([compare(b.per_unit, a.per_unit, chunk, model_s)
                                    for chunk, b, a, _ in setup["rounds"]], weights),
                    "kernel": merge([k for *_, k in setup["rounds"]], weights),
                    "rounds": len(weights), "loadavg": counters.loadavg(), "tiling": tiling_summary(plan),
                    "codec": setup["coded"].label, "accuracy": setup["accuracy"].to_dict(),
                    "codec_check": setup["check"],
                }
                points.append(point)
                if on_point is not None:
                    on_point(point)
    base_ms = points[0]["measured_ms"] if counts[0] == 1 else None
    for p in points:
        p["speedup"] = round(base_ms / p["measured_ms"], 3) if base_ms else None
        p["error"] = round(p["predicted_ms"] / p["measured_ms"] - 1, 4)
    return {
        "arch": workload.describe,
        "preset": preset.model_dump(), "input_policy": input_policy, "engine": engine, "placement": placement,
        "runs": runs,
        "profile": profile.model_dump(), "image_bytes": image, "points": points, "calibration": saved,
    }
