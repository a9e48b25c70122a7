"""``testbed calibrate``: what a message costs a device, measured once per preset and engine.

The latency model charges every message twice: on the link (``message_latency_s`` plus
its bytes at the tbf rate) and on the CPU of both devices (``message_cpu_s``: ZeroMQ's
I/O thread, CURVE, encoding and decoding, and the engine call each arriving input
starts). Under a CFS quota the second one matters more than its size suggests: a
device that has spent its budget cannot even take a message in until the next period
(docs/latency.md). Both are measured on the testbed itself:

* ``message_latency_s``: half the fastest ping round trip to a device (the link's own
  latency is that less two messages' CPU, :func:`link_latency`);
* ``message_cpu_s``: the calibration networks (``parawire.calibration.local``'s DP-40 and
  ER-40) deployed on two devices and run ``runs`` times, then whole on one; the message
  cost with which the model best reproduces their 2-device latencies, each one's compute
  fitted to its 1-device latency (:func:`fit_message_cpu`). What the devices' CPU spends per message end
  (each device's CPU time, all its worker's threads, minus the time its tasks computed,
  summed, over the messages sent and received: peer messages count twice, the image
  and the logits once) is where the fit starts, kept as ``message_cpu_measured_s``;
* ``call_s``: the same calibration networks whole on one device (one engine call), 30
  spaced inferences: what their tasks' CPU time on two devices adds to that, per engine
  call more (each unit computes its vertices in several calls, :mod:`parawire.latency.calls`);
* ``cpu_reserve_s``: the CPU time a device's quota lets it keep across CFS periods
  (:mod:`parawire.testbed.quota`, a probe in a cgroup with the device's quota; absent
  when the preset has no quota).

Saved as JSON per preset and engine (``$XDG_CACHE_HOME/parawire/testbed-<preset>-<engine>.json``);
``testbed run`` uses it, and measures it first when it is missing.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from parawire.errors import ParawireError
from parawire.registry.kinds import builtin
from parawire.testbed import counters
from parawire.testbed.cgroups import DEFAULT_PERIOD_US
from parawire.testbed.presets import Preset
from parawire.testbed.quota import fit_reserve
from parawire.testbed.quota import measure as measure_quota

RUNS = 30
MIN_RUNS, MAX_RUNS = 5, 1000
"""Fewest and most timed inferences per calibration network (``testbed calibrate
--runs``): the end-to-end fit of the message cost needs a median of several, and 1,000
runs already take about 20 minutes; more is a typo that would hold the testbed for ever."""
IDLE_PERIODS = 2
"""CFS periods the devices idle between timed inferences, so that each starts with its
full CPU budget: the latency of one request on idle devices, which the model predicts
(back to back, a device's budget at the start depends on how the previous inference ended)."""
ECHO_ROUNDS = 20
PERIOD_S = DEFAULT_PERIOD_US / 1e6


FORMAT = 5
"""Saved records of another format are measured again. Format 2 came with devices pinned
to one core each (:func:`parawire.testbed.cgroups.device_core`), which changed what a
device computes in a second (1-device CPU per inference 14.6–15.9 ms unpinned, 11.7–12.4
pinned) and so every figure calibrated beside it; format 3 fits ``message_cpu_s`` end to
end (:func:`fit_message_cpu`) on inferences started at random phases of the CFS period
(:func:`idle`); format 4 charges each engine call (``call_s``) where format 3 scaled all
split compute by one factor, and the message cost is fitted with that; format 5 came with
ONNX Runtime's sessions on one shared arena (``parawire.engines.ort``), which made a
split unit's engine calls cheaper, so ``call_s`` and the message cost fitted beside it."""


def path_for(preset: Preset, engine: str) -> Path:
    """One file per device class as emulated (every field a command line may override) and engine."""
    from parawire.calibration.local import cache_dir
    return cache_dir() / (f"testbed-{preset.name}-{preset.cpu:g}cpu-{preset.rate_mbit:g}mbit-{preset.burst_kb}kb-"
                          f"{preset.network}-{engine}.json")


_phases = random.Random()
"""Its own generator: a caller seeding ``random`` must not make the phases repeat."""


def idle() -> None:
    """Wait until every device has its full CPU budget again, and a random part of a
    period more, so that the next inference starts at a random phase of the devices' CFS
    periods, as the model averages over phases (``QUOTA_PHASES``).

    A fixed gap locked the phase: an inference that ends just after a period boundary
    (it waited out a throttle) and then sleeps a whole number of periods starts the next
    at the same phase, run after run. The same 1-device placement of DP-40 measured
    28.9 ms in one point and 19.5 ms in the next (the same CPU, 7.6–8.3 ms, and the same
    2.4–2.6 throttled periods per inference): a period more or less, decided by where the
    point's first inference happened to start."""
    time.sleep((IDLE_PERIODS + _phases.random()) * PERIOD_S)


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
        idle()
    return min(rtts) / 2


def link_latency(half_rtt_s: float, message_cpu_s: float) -> float:
    """The link's own latency per message, from half a ping round trip.

    The round trip passes four message ends (the coordinator sends, the device takes it
    in and answers, the coordinator takes the answer in), and the model charges each end
    ``message_cpu_s`` on its own; half the round trip holds two of them. Charged twice,
    they made every message on a 4-device DP-40's critical path 0.6 ms too long (the
    model 26–52 % pessimistic there, docs/latency.md)."""
    return max(half_rtt_s - 2 * message_cpu_s, 0.0)


def _spaced_cpu(bed, cluster, spec, plan, engine: str, runs: int) -> tuple[float, float, float, int, float]:
    """Deploy ``plan`` of ``spec`` and run ``runs`` spaced inferences: the CPU seconds of
    its devices' processes and of their tasks, the tasks' engine calls, and the message
    ends (a peer message has two, the image and the logits one each), over all runs; and
    the median latency."""
    import torch
    from parawire.calibration.timing import summary, timings
    from parawire.testbed.breakdown import task_totals

    cluster.deploy(spec, plan, engine=engine)
    x = torch.randn(1, *spec.input_shape)
    for _ in range(2):
        cluster.infer(x)
    pids = [w.pid for w in bed.workers[:plan.units]]
    shared = bed.preset.network == "shared"
    before, kernel = cluster.stats(), counters.snapshot(bed.name, pids, shared)
    walls = timings(lambda: cluster.infer(x), runs, 0, on_run=idle)
    after, kernel2 = cluster.stats(), counters.snapshot(bed.name, pids, shared)
    process = sum(kernel2[i]["cpu"]["process_ns"] - kernel[i]["cpu"]["process_ns"] for i in range(plan.units)) / 1e9
    tasks, calls = task_totals(before.per_unit, after.per_unit)
    ends = 2 * (after.peer_messages - before.peer_messages) + runs * (len(plan.input_units) + 1)
    return process, tasks, calls, ends, summary(walls)[0]


def call_cost(extra_cpu_s: float, extra_calls: float) -> float:
    """CPU seconds per engine call: the tasks' CPU a split run adds to the whole network's
    (one call) over the calls it adds; 0 when it adds none (an engine that calls every
    vertex alone in both) or the split ran faster (caches: the noise of a short run)."""
    return max(extra_cpu_s / extra_calls, 0.0) if extra_calls > 0 else 0.0


MESSAGE_CPU_GRID_S = np.round(np.arange(0.0, 1.0001e-3, 2e-5), 8)
"""The ``message_cpu_s`` values :func:`fit_message_cpu` tries: 0 to 1 ms by 20 µs."""


def fit_message_cpu(predict, latencies: Sequence[tuple[float, float]]) -> float:
    """The ``message_cpu_s`` with which the model best predicts the calibration networks'
    2-device latencies, each network's compute fitted to its own 1-device latency.

    ``predict(network, units, scale, message_cpu_s)`` is the model's latency of network
    ``network`` on 1 or 2 devices; ``latencies[network]`` its measured (1-device,
    2-device) seconds. What a device's CPU spends per message end is not what a message
    costs the critical path: a device takes messages in while its links or its peer
    work, and the CPU count includes ZeroMQ's polling between inferences. With the CPU
    figure of pinned devices (0.34 ms per end) the model was 10–19 % pessimistic on
    Figure 13's 2–6-device medians (13 of 30 points within 15 %). Several networks, as
    one lands between two steps of the quota's staircase (a CFS period more or less)."""
    from parawire.latency.profiles import fit_compute_scale

    def error(message: float) -> float:
        total = 0.0
        for n, (one_s, two_s) in enumerate(latencies):
            scale = fit_compute_scale(one_s, lambda s: predict(n, 1, s, message))
            total += abs(np.log(predict(n, 2, scale, message) / two_s))
        return total

    errors = [error(m) for m in MESSAGE_CPU_GRID_S]
    return float(MESSAGE_CPU_GRID_S[int(np.argmin(errors))])


def calibration_plans() -> list[tuple]:
    """Each calibration network (``parawire.calibration.local``'s DP-40 and ER-40) with
    its plans: ``(arch, {1: whole on one device, 2: the multilevel partition on two})``.
    What ``testbed calibrate`` runs, and what a replay of its fit predicts
    (``benchmarks/testbed_resimulate.py --refit-message``)."""
    from parawire.calibration.local import CALIBRATION_SPECS
    from parawire.executor.plan import plan_for
    from parawire.pipeline.build import build_architecture
    from parawire.pipeline.placement import partition_architecture

    out = []
    for spec in CALIBRATION_SPECS:
        arch = build_architecture(spec)
        part = partition_architecture(arch, 2, builtin("multilevel"), 0.03)
        out.append((arch, {2: plan_for(arch, part, units=2), 1: plan_for(arch, [0] * len(part), units=1)}))
    return out


def compute_costs(bed, cluster, engine: str, half_rtt_s: float, runs: int = RUNS) -> dict:
    """``message_cpu_s`` and ``call_s`` of a device: each calibration network on two
    devices of ``bed``, then whole on the first (see the module docstring); the message
    cost fitted end to end (:func:`fit_message_cpu`), the CPU-measured one kept beside it."""
    from parawire.calibration.local import get_profile
    from parawire.executor.tiles import predicted_s

    networks, latencies = calibration_plans(), []
    process = split = whole = ends = split_calls = whole_calls = 0.0
    for arch, plan in networks:
        cpu, tasks, calls, count, two_s = _spaced_cpu(bed, cluster, arch.spec, plan[2], engine, runs)
        _, alone, one_calls, _, one_s = _spaced_cpu(bed, cluster, arch.spec, plan[1], engine, runs)
        process, split, whole, ends = process + cpu, split + tasks, whole + alone, ends + count
        split_calls, whole_calls = split_calls + calls, whole_calls + one_calls
        latencies.append((one_s, two_s))
    costs = {"call_s": call_cost(split - whole, split_calls - whole_calls)}
    if bed.preset.cpu < 1:  # the quota decides when a message is taken in: the model needs its reserve
        walls = measure_quota(bed.name, bed.preset.cpu, DEFAULT_PERIOD_US)
        costs["cpu_reserve_s"], costs["quota_fit_error"] = fit_reserve(walls, bed.preset.cpu, PERIOD_S)
        costs["quota_probe_ms"] = {f"{c:g}": round(float(np.median(w)), 3) for c, w in walls.items()}
    base = get_profile("local", engine=engine)

    def predict(network: int, units: int, scale: float, message_cpu_s: float) -> float:
        record = {**costs, "message_cpu_s": message_cpu_s}
        profile = calibrated_profile(bed.preset, base, half_rtt_s, record, engine=engine, compute_scale=scale)
        arch, plans = networks[network]
        return predicted_s(arch, plans[units], profile)

    return {**costs, "message_cpu_s": fit_message_cpu(predict, latencies),
            "message_cpu_measured_s": max(process - split, 0.0) / ends,
            "calibration_ms": [[round(one_s * 1e3, 3), round(two_s * 1e3, 3)] for one_s, two_s in latencies]}


def calibrate(bed, cluster, engine: str, runs: int = RUNS) -> dict:
    """Measure and save the message costs of ``bed``'s preset with ``engine``; the record."""
    if bed.devices < 2:
        raise ParawireError("testbed calibrate: needs 2 devices (a message needs two ends)")
    half_rtt = message_latency(cluster)
    record = {"format": FORMAT, "preset": bed.preset.name, "engine": engine, "message_latency_s": half_rtt,
              **compute_costs(bed, cluster, engine, half_rtt, runs), "runs": runs}
    record.update({"loadavg": counters.loadavg(), "date": time.strftime("%Y-%m-%d %H:%M")})
    path = path_for(bed.preset, engine)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    record["path"] = str(path)
    return record


PROFILE_FIELDS = ("message_cpu_s", "cpu_reserve_s", "call_s")
"""What a calibration gives :func:`parawire.latency.profiles.preset_profile`, beside the latency."""


def calibrated_profile(preset: Preset, base, half_rtt_s: float, record: dict | None, *, engine: str,
                       compute_scale: float = 1.0):
    """:func:`~parawire.latency.profiles.preset_profile` with what the calibration ``record``
    holds (:data:`PROFILE_FIELDS`; None: the model's defaults) and the link latency net
    of its message CPU (:func:`link_latency`) from ``half_rtt_s``, half a round trip."""
    from parawire.latency.profiles import preset_profile

    costs = {key: record[key] for key in PROFILE_FIELDS if key in record} if record else {}
    latency = link_latency(half_rtt_s, costs.get("message_cpu_s", 0.0))
    return preset_profile(preset, base, latency, compute_scale, engine=engine, period_s=PERIOD_S, **costs)


def load(preset: Preset, engine: str) -> dict | None:
    """The saved calibration of ``preset`` with ``engine``, if any. One that is not a JSON
    object of valid figures (a number ≥ :data:`LOWEST` for each), or of another
    :data:`FORMAT`, counts as none: ``testbed run`` measures it again and rewrites the file."""
    path = path_for(preset, engine)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not all(_valid(record.get(key), low) for key, low in LOWEST.items()
                                               if key in record):
        return None
    if record.get("format") != FORMAT or "call_s" not in record or (
            preset.cpu < 1 and "cpu_reserve_s" not in record):
        return None
    return record


LOWEST = {"message_latency_s": 0.0, "message_cpu_s": 0.0, "cpu_reserve_s": 0.0, "call_s": 0.0}
"""The smallest valid value of each figure a calibration saves."""


def _valid(value, low: float) -> bool:  # type: ignore[no-untyped-def]
    return isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value < float("inf")
