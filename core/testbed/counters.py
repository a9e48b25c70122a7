"""What the kernel counted for each device while a testbed ran: CPU throttling and link traffic.

The latency model is checked against a median latency; when a point is off, these
counters say where the time went without trusting the model:

* **CFS throttling** (the device's ``cpu.stat``): periods in which the device ran
  (``nr_periods``), periods in which it hit its quota (``nr_throttled``) and the time it
  then waited (``throttled_time``). A quarter-core device runs at most 2.5 ms per 10 ms
  period; a vertex longer than that is stretched whatever the model says.
* **Link traffic** (``tc -s qdisc`` of the device's tbf on each direction): bytes and
  frames on the wire, and ``overlimits``, the times a frame had to wait for tokens. The
  link's busy time is its wire bytes over the tbf rate.

:func:`snapshot` reads everything at one moment; :func:`per_inference` turns two
snapshots into per-device figures per inference. A shared medium has one tbf (the hub),
reported as device ``-1``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from parawire.testbed import cgroups, network
from parawire.testbed.system import sh

CPU_FIELDS = ("nr_periods", "nr_throttled", "throttled_time")
LINK_FIELDS = ("bytes", "packets", "overlimits", "drops")


def loadavg() -> str:
    """The 1-, 5- and 15-minute load averages: the devices share this machine's cores, and
    a busy machine gives them less than their quota."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def cpu_stat(name: str, i: int) -> dict[str, int]:
    """Device ``i``'s CFS counters (``throttled_time`` in ns)."""
    lines = (cgroups.group(name, i) / "cpu.stat").read_text().split("\n")
    values = dict(line.split() for line in lines if line.strip())
    return {k: int(values.get(k, 0)) for k in CPU_FIELDS}


def qdisc_stat(dev: str, netns: str | None = None) -> dict[str, int]:
    """The root qdisc's counters of ``dev`` (zeros when it has no tbf: a shared medium's ports)."""
    for q in json.loads(sh("tc", "-s", "-j", "qdisc", "show", "dev", dev, netns=netns) or "[]"):
        if q.get("kind") == "tbf":
            return {k: int(q.get(k, 0)) for k in LINK_FIELDS}
    return dict.fromkeys(LINK_FIELDS, 0)


def process_cpu_ns(pid: int) -> int:
    """CPU nanoseconds all threads of ``pid`` have run (``/proc/PID/task/*/schedstat``):
    the worker's compute plus what the tasks' own timers miss (ZeroMQ's I/O thread,
    CURVE, decoding, the runner), all of it charged to the device's quota."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):  # a thread that just exited
            pass
    return total


class InferenceCpu:
    """Each worker's CPU time inside the timed inferences only: :meth:`open` as a request
    goes out, :meth:`close` as its logits are back. ``process_ns`` of :func:`snapshot`
    spans the whole timed run, the idle waits between inferences included (their polling
    and whatever a worker does after its last message); the CPU a model of the device
    must account for is what it spends during an inference, this part."""

    def __init__(self, pids: Sequence[int], read=process_cpu_ns) -> None:
        self.pids, self.read = list(pids), read
        self.total = [0] * len(self.pids)
        self.started: list[int] | None = None

    def open(self) -> None:
        self.started = [self.read(pid) for pid in self.pids]

    def close(self) -> None:
        if self.started is not None:
            self.total = [t + self.read(pid) - s for t, pid, s in zip(self.total, self.pids, self.started)]
            self.started = None


def snapshot(name: str, pids: Sequence[int], shared: bool) -> dict:
    """Every counter of testbed ``name`` now, for the devices whose workers are ``pids``:
    per device ``cpu`` (CFS counters and the worker's CPU time), ``out`` (device →
    anyone, the device end's tbf) and ``in`` (anyone → device, the bridge end's tbf)."""
    out = {}
    for i, pid in enumerate(pids):
        ns = network.device_ns(name, i)
        out[i] = {"cpu": {**cpu_stat(name, i), "process_ns": process_cpu_ns(pid)},
                  "out": qdisc_stat(f"{ns}i", netns=ns) if not shared else dict.fromkeys(LINK_FIELDS, 0),
                  "in": qdisc_stat(ns) if not shared else dict.fromkeys(LINK_FIELDS, 0)}
    if shared:
        out[-1] = {"bus": qdisc_stat(f"{name}-hub")}
    return out


def per_inference(before: dict, after: dict, inferences: int, rate_bytes_per_s: float,
                  window_ns: Sequence[int] | None = None) -> list[dict]:
    """Per device (and the hub), per inference: CFS periods run and throttled, ms
    throttled, the worker process's CPU ms (and ``window_cpu_ms``, its part inside the
    inferences, given each device's :attr:`InferenceCpu.total`), and per link direction the wire bytes, frames,
    token waits and busy ms (wire bytes at the tbf rate)."""
    rows = []
    for dev in sorted(after):
        row: dict = {"device": dev}
        for part, counters in after[dev].items():
            delta = {k: (v - before[dev][part][k]) / inferences for k, v in counters.items()}
            if part == "cpu":
                row.update(periods=round(delta["nr_periods"], 2), throttled=round(delta["nr_throttled"], 2),
                           throttled_ms=round(delta["throttled_time"] / 1e6, 3),
                           process_cpu_ms=round(delta["process_ns"] / 1e6, 3))
                if window_ns is not None:
                    row["window_cpu_ms"] = round(window_ns[dev] / inferences / 1e6, 3)
            else:
                row[part] = {"bytes": round(delta["bytes"]), "frames": round(delta["packets"], 1),
                             "token_waits": round(delta["overlimits"], 1), "drops": round(delta["drops"], 2),
                             "busy_ms": round(delta["bytes"] / rate_bytes_per_s * 1e3, 3)}
        rows.append(row)
    return rows
