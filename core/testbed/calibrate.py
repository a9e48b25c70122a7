"""``testbed calibrate``: what a message costs a device, measured once per preset and engine.

The latency model charges every message twice: on the link (``message_latency_s`` plus
its bytes at the tbf rate) and on the CPU of both devices (``message_cpu_s``: ZeroMQ's
I/O thread, CURVE, encoding and decoding, and the engine call each arriving input
starts). Under a CFS quota the second one matters more than its size suggests: a
device that has spent its budget cannot even take a message in until the next period
(docs/latency.md). Both are measured on the testbed itself:

* ``message_latency_s``: half the fastest ping round trip to a device (the link's own
  latency is that less two messages' CPU, :func:`link_latency`);
* ``message_cpu_s``: the calibration network (``parawire.calibration.local``'s DP-40)
  deployed on two devices and run ``runs`` times; each device's CPU time (all its
  worker's threads) minus the time its tasks computed, summed, over the messages the
  devices sent and received (peer messages count twice, the image and the logits once);
* ``split_slowdown``: the same calibration network whole on one device, 30 spaced
  inferences: its tasks' CPU time on two devices over that (each unit's several engine
  calls against one fused call, and two devices computing at once on shared cores);
* ``cpu_reserve_s``: the CPU time a device's quota lets it keep across CFS periods
  (:mod:`parawire.testbed.quota`, a probe in a cgroup with the device's quota; absent
  when the preset has no quota).

Saved as JSON per preset and engine (``$XDG_CACHE_HOME/parawire/testbed-<preset>-<engine>.json``);
``testbed run`` uses it, and measures it first when it is missing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from parawire.calibration.local import CALIBRATION_SPECS, cache_dir
from parawire.errors import ParawireError
from parawire.registry.kinds import builtin
from parawire.testbed import counters
from parawire.testbed.cgroups import DEFAULT_PERIOD_US
from parawire.testbed.presets import Preset
from parawire.testbed.quota import fit_reserve
from parawire.testbed.quota import measure as measure_quota

RUNS = 30
IDLE_PERIODS = 2
"""CFS periods the devices idle between timed inferences, so that each starts with its
full CPU budget: the latency of one request on idle devices, which the model predicts
(back to back, a device's budget at the start depends on how the previous inference ended)."""
ECHO_ROUNDS = 20
PERIOD_S = DEFAULT_PERIOD_US / 1e6


FORMAT = 2
"""Saved records of another format are measured again: format 2 came with devices pinned
to one core each (:func:`parawire.testbed.cgroups.device_core`), which changed what a
device computes in a second (1-device CPU per inference 14.6–15.9 ms unpinned, 11.7–12.4
pinned) and so every figure calibrated beside it."""


def path_for(preset: Preset, engine: str) -> Path:
    """One file per device class as emulated (every field a command line may override) and engine."""
    return cache_dir() / (f"testbed-{preset.name}-{preset.cpu:g}cpu-{preset.rate_mbit:g}mbit-{preset.burst_kb}kb-"
                          f"{preset.network}-{engine}.json")


def idle() -> None:
    """Wait until every device has its full CPU budget again."""
    time.sleep(IDLE_PERIODS * PERIOD_S)


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


def _spaced_cpu(bed, cluster, spec, plan, engine: str, runs: int) -> tuple[float, float, int]:
    """Deploy ``plan`` of ``spec`` and run ``runs`` spaced inferences: the CPU seconds of
    its devices' processes and of their tasks, and the message ends (a peer message has
    two, the image and the logits one each), over all runs."""
    import torch
    from parawire.testbed.breakdown import task_times

    cluster.deploy(spec, plan, engine=engine)
    x = torch.randn(1, *spec.input_shape)
    for _ in range(2):
        cluster.infer(x)
    pids = [w.pid for w in bed.workers[:plan.units]]
    shared = bed.preset.network == "shared"
    before, kernel = cluster.stats(), counters.snapshot(bed.name, pids, shared)
    for _ in range(runs):
        cluster.infer(x)
        idle()
    after, kernel2 = cluster.stats(), counters.snapshot(bed.name, pids, shared)
    process = sum(kernel2[i]["cpu"]["process_ns"] - kernel[i]["cpu"]["process_ns"] for i in range(plan.units)) / 1e9
    old, new = task_times(before.per_unit), task_times(after.per_unit)
    tasks = sum(cpu - old[u].get(vs, (0.0, 0.0))[1] for u in new for vs, (_, cpu, _) in new[u].items())
    ends = 2 * (after.peer_messages - before.peer_messages) + runs * (len(plan.input_units) + 1)
    return process, tasks, ends


def compute_costs(bed, cluster, engine: str, runs: int = RUNS) -> dict[str, float]:
    """``message_cpu_s`` and ``split_slowdown`` of a device: the calibration network on two
    devices of ``bed``, then whole on the first (see the module docstring)."""
    from parawire.executor.plan import plan_for
    from parawire.pipeline.build import build_architecture
    from parawire.pipeline.placement import partition_architecture

    spec = CALIBRATION_SPECS[0]
    arch = build_architecture(spec)
    part = partition_architecture(arch, 2, builtin("multilevel"), 0.03)
    process, split, ends = _spaced_cpu(bed, cluster, spec, plan_for(arch, part, units=2), engine, runs)
    _, whole, _ = _spaced_cpu(bed, cluster, spec, plan_for(arch, [0] * len(part), units=1), engine, runs)
    return {"message_cpu_s": max(process - split, 0.0) / ends, "split_slowdown": max(split / whole, 1.0)}


def calibrate(bed, cluster, engine: str, runs: int = RUNS) -> dict:
    """Measure and save the message costs of ``bed``'s preset with ``engine``; the record."""
    if bed.devices < 2:
        raise ParawireError("testbed calibrate: needs 2 devices (a message needs two ends)")
    record = {"format": FORMAT, "preset": bed.preset.name, "engine": engine,
              "message_latency_s": message_latency(cluster),
              **compute_costs(bed, cluster, engine, runs), "runs": runs}
    if bed.preset.cpu < 1:  # the probe runs beside the idle devices, in a group of its own
        walls = measure_quota(bed.name, bed.preset.cpu, DEFAULT_PERIOD_US)
        record["cpu_reserve_s"], record["quota_fit_error"] = fit_reserve(walls, bed.preset.cpu, PERIOD_S)
        record["quota_probe_ms"] = {f"{c:g}": round(float(np.median(w)), 3) for c, w in walls.items()}
    record.update({"loadavg": counters.loadavg(), "date": time.strftime("%Y-%m-%d %H:%M")})
    path = path_for(bed.preset, engine)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    record["path"] = str(path)
    return record


PROFILE_FIELDS = ("message_cpu_s", "cpu_reserve_s", "split_slowdown")
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
    if record.get("format") != FORMAT or "split_slowdown" not in record or (
            preset.cpu < 1 and "cpu_reserve_s" not in record):
        return None
    return record


LOWEST = {"message_latency_s": 0.0, "message_cpu_s": 0.0, "cpu_reserve_s": 0.0, "split_slowdown": 1.0}
"""The smallest valid value of each figure a calibration saves."""


def _valid(value, low: float) -> bool:  # type: ignore[no-untyped-def]
    return isinstance(value, (int, float)) and not isinstance(value, bool) and low <= value < float("inf")
