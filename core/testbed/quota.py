"""What a device's CFS quota really allows, measured: the reserve the latency model needs.

The model's :class:`~parawire.latency.model.Quota` gives a unit ``quota × period`` of CPU
per period plus a ``cpu_reserve_s`` its CPU keeps across periods (Linux's
``min_cfs_rq_runtime``). The reserve is the kernel's, not the preset's: kernels before
5.4 expire it, later ones keep up to 1 ms, and ticks and accounting slack move the
effective figure. So it is measured here, in a cgroup with a device's quota and period:
a process idles a few periods (a device between inferences), then burns a slice of CPU
time, and the wall time of each slice, from 0.5 to 30 ms, is compared with the model's
mean over period phases for each candidate reserve; the best fit is kept.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

import numpy as np
from parawire.testbed.cgroups import confined, device_core, group, remove
from parawire.testbed.system import TestbedError

SLICES_MS = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 13.0, 20.0, 30.0)
"""CPU slices timed: short ones show the first burst, long ones the steady share."""
ROUNDS = 15
IDLE_S = 0.03
"""Idle before each slice (three 10 ms periods, plus a random part so the slice starts
at a random phase of the period), as a device waits between spaced inferences."""
RESERVES_S = tuple(np.round(np.arange(0.0, 3.0001e-3, 0.05e-3), 7))
PHASES = 200


def burn(cpu_s: float) -> None:
    """Spend ``cpu_s`` seconds of this thread's CPU time."""
    start = time.thread_time()
    while time.thread_time() - start < cpu_s:
        sum(range(200))


def probe(slices_ms: Sequence[float] = SLICES_MS, rounds: int = ROUNDS, seed: int = 0) -> dict[float, list[float]]:
    """Wall milliseconds of each slice, ``rounds`` times each in shuffled order (run inside the cgroup)."""
    rng = random.Random(seed)
    order = list(slices_ms)
    walls: dict[float, list[float]] = {c: [] for c in order}
    for _ in range(rounds):
        rng.shuffle(order)
        for c in order:
            time.sleep(IDLE_S + rng.random() * IDLE_S / 3)
            start = time.perf_counter()
            burn(c / 1e3)
            walls[c].append((time.perf_counter() - start) * 1e3)
    return walls


def measure(name: str, cpu: float, period_us: int, rounds: int = ROUNDS) -> dict[float, list[float]]:
    """Run :func:`probe` in a new cgroup ``probe`` of testbed ``name`` with a device's quota;
    the group (and the probe, if it hangs) is removed on every exit path."""
    path = group(name) / "probe"
    path.mkdir()
    try:
        (path / "cpu.cfs_period_us").write_text(str(period_us))
        (path / "cpu.cfs_quota_us").write_text(str(round(cpu * period_us)))
        code = (f"import json; from parawire.testbed.quota import probe; "
                f"print(json.dumps(probe(rounds={int(rounds)})))")
        # on device 0's core, as a device runs: no Python runs outside the quota
        argv = confined(path / "cgroup.procs", device_core(0), [sys.executable, "-c", code])
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise TestbedError(f"quota probe failed: {done.stderr.strip().splitlines()[-1:]}")
        return {float(c): w for c, w in json.loads(done.stdout).items()}
    finally:
        remove(path)


def model_ms(reserve_s: float, slice_ms: float, cpu: float, period_s: float) -> float:
    """The model's mean wall milliseconds of one slice started idle, over period phases."""
    from parawire.latency.model import DeviceProfile, Quota

    profile = DeviceProfile(name="probe", flops_per_s=1.0, bandwidth_bytes_per_s=1.0, message_latency_s=0.0,
                            cpu_quota=cpu, cpu_period_s=period_s, cpu_reserve_s=reserve_s)
    phases = np.arange(PHASES) / PHASES
    return float(np.mean([Quota(1, profile, p).run(0, 0.0, slice_ms / 1e3) for p in phases])) * 1e3


def fit_reserve(walls: Mapping[float, Sequence[float]], cpu: float, period_s: float) -> tuple[float, float]:
    """(reserve seconds, rms relative error) that best fits the measured mean wall time per slice."""
    if not walls or any(len(w) == 0 for w in walls.values()):
        raise TestbedError("quota probe: no slice timed")
    measured = {c: float(np.mean(w)) for c, w in walls.items()}

    def error(reserve: float) -> float:
        return float(np.sqrt(np.mean([(model_ms(reserve, c, cpu, period_s) / m - 1) ** 2
                                      for c, m in measured.items()])))

    errors = {r: error(r) for r in RESERVES_S}
    best = min(errors, key=lambda r: (errors[r], r))
    return float(best), errors[best]
