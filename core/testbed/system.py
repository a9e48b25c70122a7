"""The kernel interface of the testbed: ``ip``/``tc`` commands, names, capabilities.

Commands go through the iproute2 binaries rather than netlink bindings: they are what
an administrator would type to inspect or repair the same objects, every failure comes
back with the kernel's own message, and no extra dependency is needed.

Naming: every object of one testbed starts with its name ``pw-XXXX`` (:data:`PREFIX`
and four hex digits), so a crashed run's leftovers are found by prefix alone. Linux
limits link names to 15 characters; ``pw-XXXX-d12i`` is 12.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

from parawire.errors import ParawireError

PREFIX = "pw-"
NAME = re.compile(r"^pw-[0-9a-f]{4}$")
OWNED = re.compile(r"^(pw-[0-9a-f]{4})(?:-|$)")
CGROUP_CPU = Path("/sys/fs/cgroup/cpu")
STATE_DIR = Path("/run/parawire-testbed")
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


class TestbedError(ParawireError):
    """The testbed cannot be built here, or a kernel command failed."""

    __test__ = False  # not a pytest class despite the name


def tool(name: str) -> str | None:
    return shutil.which(name, path=SEARCH_PATH)


def sh(*args: str, check: bool = True, netns: str | None = None) -> str:
    """Run an ``ip``/``tc`` command (inside ``netns`` when given); its stdout.

    A failure raises :class:`TestbedError` with the command and the kernel's message."""
    exe = tool(args[0])
    if exe is None:
        raise TestbedError(f"`{args[0]}` not found (install iproute2)")
    argv = [exe, *args[1:]]
    if netns is not None:
        argv = [tool("ip") or "ip", "netns", "exec", netns, *argv]
    done = subprocess.run(argv, capture_output=True, text=True)
    if check and done.returncode != 0:
        message = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise TestbedError(f"`{' '.join(args)}` failed: {message[0] if message else f'status {done.returncode}'}")
    return done.stdout


def owner_of(name: str) -> str | None:
    """The testbed name an object name belongs to (``pw-XXXX-d0`` → ``pw-XXXX``)."""
    match = OWNED.match(name)
    return match.group(1) if match else None


@contextlib.contextmanager
def allocating():
    """Hold the testbeds' lock, ``flock`` on ``/run/parawire-testbed/lock`` (blocks until
    its holder lets go). Whatever creates or removes ``pw-`` objects by looking at what
    exists (cleaning leftovers, choosing a name and a subnet, the capability probe) holds
    it, so concurrent testbeds see each other's objects whole. The kernel drops the lock
    when its holder dies: a crash cannot leave it held."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(STATE_DIR / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def missing() -> list[str]:
    """What this machine lacks for a testbed, one sentence each (empty: all present).

    Checks root, the iproute2 tools, ``taskset``, the cgroup v1 ``cpu`` controller, and then creates
    and removes a probe namespace with a tbf-shaped veth pair, which exercises the
    netns, veth and sch_tbf kernel features.
    """
    if os.geteuid() != 0:
        return ["root (uid 0): network namespaces, links, qdiscs and cgroups can only be created by root"]
    lacks = [f"`{t}` from iproute2 (not on PATH, /usr/sbin or /sbin)" for t in ("ip", "tc") if tool(t) is None]
    if tool("taskset") is None:
        lacks.append("`taskset` from util-linux (not on PATH, /usr/sbin or /sbin): it pins each device to a core")
    if not (CGROUP_CPU / "cpu.cfs_quota_us").exists():
        lacks.append(f"the cgroup v1 cpu controller at {CGROUP_CPU} (cpu.cfs_quota_us); "
                     "cgroup v2 (cpu.max) is not supported")
    if lacks:
        return lacks
    return probe()


def probe() -> list[str]:
    """Create and delete a namespace with a shaped veth; the failing step, if any.

    Under the lock: another testbed's leftover clean-up would otherwise remove the
    probe's objects (prefixed, with no state file) halfway through."""
    with allocating():
        return _probe(f"{PREFIX}{secrets.token_hex(2)}")


def _probe(name: str) -> list[str]:
    ns, link = f"{name}-probe", f"{name}-pr"
    steps = [
        ("network namespaces (ip netns add)", ("ip", "netns", "add", ns)),
        ("veth pairs (ip link add type veth)", ("ip", "link", "add", link, "type", "veth", "peer", "name",
                                                f"{link}i", "netns", ns)),
        ("the tbf qdisc (tc qdisc add … tbf)", ("tc", "qdisc", "add", "dev", link, "root", "tbf", "rate",
                                                "100mbit", "burst", "32kb", "latency", "50ms")),
    ]
    try:
        for what, cmd in steps:
            try:
                sh(*cmd)
            except TestbedError as exc:
                return [f"{what}: {exc}"]
        return []
    finally:
        sh("ip", "link", "del", link, check=False)
        sh("ip", "netns", "del", ns, check=False)
