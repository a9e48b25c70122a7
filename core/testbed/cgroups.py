"""CPU quotas: one cgroup v1 ``cpu`` group per device under ``/sys/fs/cgroup/cpu/pw-XXXX/``.

A quota of ``q`` cores is ``cfs_quota_us = q · cfs_period_us``. The period is short
(default 10 ms) so that a 25 % device runs 2.5 ms in every 10 ms instead of running
25 ms and then stalling for 75 ms, which would add up to 75 ms to any message that
arrives during a stall and make a quarter core look like a much slower device.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

from parawire.testbed.system import CGROUP_CPU, TestbedError, tool

DEFAULT_PERIOD_US = 10_000
CORE_BUDGET = 0.75
"""Share of this machine's cores the devices may take together; the coordinator, the
kernel's network stack (softirq work of the shaped links) and ZeroMQ's I/O threads need
the rest, or the measurement shows their starvation, not the devices."""


def usable_cores() -> list[int]:
    """The cores this process may run on (a container's cpuset may allow fewer than
    ``os.cpu_count()``)."""
    return sorted(os.sched_getaffinity(0))


def device_core(i: int) -> int:
    """The one core device ``i`` runs on, round robin over :func:`usable_cores`.

    A device's worker is pinned, as a t2.micro's vCPU or a Raspberry Pi's core is one
    core: left free, its threads migrated between this machine's cores and lost their
    caches on each move. Measured (the main job's DP-40, t2.micro, three interleaved runs
    each): one device computed 14.6–15.9 ms of CPU per inference unpinned against
    11.7–12.4 pinned, and its latency moved 49–56 ms against 39.3–39.5."""
    cores = usable_cores()
    return cores[i % len(cores)]


def confined(procs: Path, core: int, argv: Sequence[str]) -> list[str]:
    """``argv`` run inside the group whose ``cgroup.procs`` is ``procs`` and on ``core``
    only: a shell joins the group, then becomes ``taskset``, which becomes ``argv``, so
    no code of the command runs outside the quota or on another core."""
    join = 'echo $$ > "$0" && exec "$@"'
    return ["sh", "-c", join, str(procs), tool("taskset") or "taskset", "-c", str(core), *argv]


def check_budget(devices: int, cpu: float, cores: int | None = None) -> None:
    cores = cores or len(usable_cores())
    total = devices * cpu
    if total > CORE_BUDGET * cores + 1e-9:
        fit = int(CORE_BUDGET * cores / cpu + 1e-9)
        raise TestbedError(
            f"--devices {devices}: {devices} × {cpu:g} cores = {total:g} cores, more than "
            f"{CORE_BUDGET:.0%} of this machine's {cores}; use at most {fit} devices or a smaller --cpu"
        )


def group(name: str, i: int | None = None) -> Path:
    """The testbed's parent group, or device ``i``'s group inside it."""
    root = CGROUP_CPU / name
    return root if i is None else root / f"d{i}"


def create(name: str, devices: int, cpu: float, period_us: int = DEFAULT_PERIOD_US) -> None:
    quota = round(cpu * period_us)
    if quota < 1000:  # the kernel's minimum
        raise TestbedError(f"--period-us {period_us}: a {cpu:g}-core quota would be {quota} µs, below the "
                           f"kernel's 1000 µs minimum; use a period of at least {int(1000 / cpu) + 1} µs")
    group(name).mkdir()
    for i in range(devices):
        path = group(name, i)
        path.mkdir()
        (path / "cpu.cfs_period_us").write_text(str(period_us))
        (path / "cpu.cfs_quota_us").write_text(str(quota))


def remove(path: Path) -> None:
    """Kill the processes left in ``path`` and its children (our workers), then remove
    the groups, children first. A group is only removable once its tasks are gone. A
    group that vanishes meanwhile is done: the testbed's owner cleans up on its way out
    while a ``testbed down`` beside it removes the same groups (it reported the owner's
    removal as an error)."""
    try:
        children = sorted((p for p in path.iterdir() if p.is_dir()), reverse=True)
    except FileNotFoundError:
        return
    for child in children:
        remove(child)
    deadline = time.monotonic() + 5
    while True:
        try:
            pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
        except FileNotFoundError:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TestbedError(f"cannot remove cgroup {path}: processes {pids} do not exit") from None
            time.sleep(0.05)


def leftovers() -> list[Path]:
    return sorted(p for p in CGROUP_CPU.glob("pw-*") if p.is_dir()) if CGROUP_CPU.is_dir() else []
