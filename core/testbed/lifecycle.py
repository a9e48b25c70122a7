"""One testbed's life: create, start workers, connect, and remove on every exit path.

Ownership is recorded in a state file ``/run/parawire-testbed/pw-XXXX.json``: the pid
(and start time) of the process that owns an ephemeral testbed (``testbed run``), or no
owner for one made by ``testbed up`` (it lives until ``testbed down``). Objects whose
name carries the prefix but whose owner is gone, or which have no state file, are
leftovers of a crash (SIGKILL, power loss): every ``up``, ``run`` and ``down`` removes
them before doing anything else. Normal exit, an exception, Ctrl-C and SIGTERM remove a
testbed through :meth:`Testbed.close` (``testbed run`` turns SIGTERM/SIGHUP into the
same KeyboardInterrupt as Ctrl-C, and ignores further signals while it cleans up).

Testbeds made at the same time (two ``up``s, two test runs) take turns through
:func:`~parawire.testbed.system.allocating` while they clean leftovers, choose a name and
claim a subnet: each sees what the previous one created, so no two share a subnet and
none removes another's half-built objects.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from parawire.registry.params import format_params
from parawire.testbed import cgroups, network
from parawire.testbed.presets import Preset
from parawire.testbed.system import (
    NAME,
    STATE_DIR,
    TestbedError,
    allocating,
    missing,
    owner_of,
    tool,
)

WORKER_PORT = 5701


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def read_state(name: str) -> dict | None:
    try:
        return json.loads((STATE_DIR / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


def _alive(state: dict | None) -> bool:
    """Whether a testbed's owner still runs (persistent testbeds count as alive)."""
    if state is None:
        return False
    if state.get("owner") is None:
        return True
    return _start_time(state["owner"]) == state.get("owner_start")


def names() -> list[str]:
    """Every testbed name that some object, or a state file, carries."""
    found = {owner_of(x) for x in (*network.namespaces(), *network.links())}
    found |= {p.name for p in cgroups.leftovers()}
    if STATE_DIR.is_dir():
        found |= {p.stem for p in STATE_DIR.glob("pw-*.json")}
    return sorted(n for n in found if n and NAME.match(n))


def remove(name: str) -> None:
    """Delete every object of testbed ``name``: namespaces (with their veths and the
    workers in them), the bridge and hub, the cgroups, the state file."""
    for ns in network.namespaces():
        if owner_of(ns) == name:
            network.remove_namespace(ns)
    cgroups.remove(cgroups.group(name))
    for link in network.links():
        if owner_of(link) == name:
            network.remove_link(link)
    (STATE_DIR / f"{name}.json").unlink(missing_ok=True)


def clean_leftovers() -> list[str]:
    """Remove the testbeds whose owner is gone; their names."""
    gone = [n for n in names() if not _alive(read_state(n))]
    for name in gone:
        remove(name)
    return gone


def remove_all() -> list[str]:
    """``testbed down``: remove every testbed and leftover; their names."""
    with allocating():
        found = names()
        for name in found:
            remove(name)
    return found


def status() -> list[dict]:
    """One entry per testbed found: name, state, devices, preset, subnet."""
    out = []
    for name in names():
        state = read_state(name) or {}
        alive = _alive(state or None)
        kind = "persistent" if alive and state.get("owner") is None else (
            f"owned by pid {state['owner']}" if alive else "leftover (owner gone; next up/down removes it)")
        devices = sum(1 for ns in network.namespaces() if owner_of(ns) == name)
        out.append({"name": name, "state": kind, "devices": devices,
                    "preset": state.get("preset"), "subnet": state.get("subnet")})
    return out


def require() -> None:
    lacks = missing()
    if lacks:
        raise TestbedError("the testbed needs " + "; ".join(lacks))


@dataclass
class Testbed:
    """A live testbed. Make one with :meth:`up`; always :meth:`close` it (context manager)."""

    name: str
    devices: int
    preset: Preset
    subnet: object
    workers: list[subprocess.Popen] = field(default_factory=list)
    endpoints: list[str] = field(default_factory=list)
    keys: dict[str, Path] = field(default_factory=dict)
    _keydir: str | None = None

    @classmethod
    def up(cls, devices: int, preset: Preset, *, persistent: bool = False,
           period_us: int = cgroups.DEFAULT_PERIOD_US) -> Testbed:
        """Check the machine and the CPU budget, clean leftovers, create everything."""
        if devices < 1:
            raise TestbedError(f"--devices: got {devices}; at least 1")
        require()
        cgroups.check_budget(devices, preset.cpu)
        owner = None if persistent else os.getpid()
        state = {"owner": owner, "owner_start": owner and _start_time(owner), "devices": devices,
                 "preset": preset.model_dump()}
        bed = None
        try:
            with allocating():
                clean_leftovers()
                name = next(n for n in (f"pw-{secrets.token_hex(2)}" for _ in range(100)) if n not in names())
                # the state file first: from here on the objects are owned, never leftovers
                (STATE_DIR / f"{name}.json").write_text(json.dumps(state))
                bed = cls(name, devices, preset, None)
                bed.subnet = network.claim_subnet(name)
            network.build(name, bed.subnet, devices, preset)
            cgroups.create(name, devices, preset.cpu, period_us)
            (STATE_DIR / f"{name}.json").write_text(json.dumps({**state, "subnet": str(bed.subnet)}))
        except BaseException:
            if bed is not None:
                bed.close()
            raise
        return bed

    def namespace(self, i: int) -> str:
        return network.device_ns(self.name, i)

    def address(self, i: int | None) -> str:
        """Device ``i``'s address (``None``: the coordinator's, on the bridge)."""
        return network.address(self.subnet, i)

    def start_workers(self, timeout: float = 120.0, verbose: bool = False,
                      engine_params: dict | None = None, allow_models: Sequence[str] = ()) -> list[str]:
        """One ``parawire worker`` per device, in its namespace and cgroup, with CURVE
        keys made for this testbed (workers bind beyond loopback), the deployed
        engine's ``engine_params`` and the model factories they may import
        (``--allow-model``; a ``FILE.py`` is read from this process's working directory,
        which the workers share); their endpoints."""
        from parawire.executor.local import ALLOCATOR_ENV, _read_endpoint
        from parawire.executor.security import generate_keys

        self._keydir = tempfile.mkdtemp(prefix=f"{self.name}-keys-")
        self.keys = generate_keys(self._keydir)
        env = {**os.environ, **ALLOCATOR_ENV, "OMP_NUM_THREADS": "1"}
        for i in range(self.devices):
            # Join the cgroup before `ip netns exec`, which mounts a fresh /sys without it.
            cmd = cgroups.confined(cgroups.group(self.name, i) / "cgroup.procs", cgroups.device_core(i), [
                   tool("ip") or "ip", "netns", "exec", self.namespace(i),
                   sys.executable, "-m", "parawire", "worker", "--bind", f"tcp://{self.address(i)}:{WORKER_PORT}",
                   "--curve-secret", str(self.keys["server"]), "--curve-clients", str(self.keys["authorized"]),
                   "--threads", "1", "--exit-with-parent", *(["-v"] if verbose else []),
                   *[arg for pair in format_params(engine_params or {}) for arg in ("--engine-param", pair)],
                   *[arg for ref in allow_models for arg in ("--allow-model", ref)]])
            self.workers.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env))
        deadline = time.monotonic() + timeout
        self.endpoints = [_read_endpoint(p, deadline) for p in self.workers]
        return self.endpoints

    def connect(self, timeout: float = 60.0):
        """A coordinator :class:`~parawire.executor.coordinator.Cluster` on every device."""
        from parawire.executor.coordinator import Cluster

        return Cluster.connect(self.endpoints, timeout=timeout, curve_secret=self.keys["client"],
                               curve_server=self.keys["server_public"])

    def close(self) -> None:
        """Stop the workers and remove every object; signals wait until it is done."""
        with _signals_deferred():
            from parawire.executor.local import stop_processes

            stop_processes(self.workers)
            self.workers.clear()
            remove(self.name)
            if self._keydir is not None:
                shutil.rmtree(self._keydir, ignore_errors=True)

    def __enter__(self) -> Testbed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def signals_interrupt():
    """SIGTERM and SIGHUP raise KeyboardInterrupt, like Ctrl-C, so ``finally`` cleans up."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.signal(s, _interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def _signals_deferred():
    """Block SIGINT/SIGTERM/SIGHUP while cleaning up; they are delivered afterwards."""
    blocked = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
