"""Device namespaces, their links to the coordinator, and the shaping of those links.

Topology: a bridge ``pw-XXXX-br`` in the root namespace holds the coordinator's address
``10.213.S.1``; device ``i`` is namespace ``pw-XXXX-di`` with address ``10.213.S.(i+2)``
on the device end ``pw-XXXX-dii`` of a veth pair whose root end ``pw-XXXX-di`` is a
bridge port. ``S`` is the first subnet no interface of this machine uses, so several
testbeds can coexist (testbeds coming up at once choose one at a time, see
:func:`claim_subnet`) and nothing is routed off the machine.

Shaping (tbf; netem is not in this kernel, so there is no added delay):

* ``switched``: one tbf per link direction: the device end's egress (device → anyone)
  and the root end's egress (anyone → device). Like a switch with one 100 Mbit/s port
  per device: different pairs transfer at the same time.
* ``shared``: one medium for everyone. Every frame entering the bridge from a device
  (root end ingress) and every frame the coordinator sends (bridge egress) is redirected
  through one ifb device ``pw-XXXX-hub`` whose tbf is the medium, like the latency
  model's ``shared`` network (one bus).
"""

from __future__ import annotations

import ipaddress

from parawire.testbed.presets import Preset
from parawire.testbed.system import TestbedError, sh

SUBNETS = ipaddress.ip_network("10.213.0.0/16")


def device_ns(name: str, i: int) -> str:
    return f"{name}-d{i}"


def free_subnet() -> ipaddress.IPv4Network:
    """The first /24 of :data:`SUBNETS` that overlaps no address of this machine."""
    used = [ipaddress.ip_interface(word).network
            for line in sh("ip", "-o", "-4", "addr", "show").splitlines()
            for word in line.split() if "/" in word and word[0].isdigit()]
    for net in SUBNETS.subnets(new_prefix=24):
        if not any(net.overlaps(u) for u in used):
            return net
    raise TestbedError(f"no free /24 left in {SUBNETS} for a testbed; run `parawire testbed down`")


def address(subnet: ipaddress.IPv4Network, i: int | None) -> str:
    """The coordinator's (``None``) or device ``i``'s address."""
    return str(subnet.network_address + (1 if i is None else i + 2))


def tbf(dev: str, preset: Preset, netns: str | None = None) -> None:
    """Shape ``dev``'s egress to the preset's rate. The queue holds 50 ms at that rate, so
    TCP sees drops (and adapts) rather than an ever-growing delay."""
    sh("tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", f"{preset.rate_mbit}mbit",
       "burst", f"{preset.burst_kb}kb", "latency", "50ms", netns=netns)


def redirect(dev: str, hub: str, parent: str) -> None:
    """Send every frame of ``dev`` at ``parent`` through ``hub`` (an ifb)."""
    sh("tc", "filter", "add", "dev", dev, "parent", parent, "protocol", "all", "u32", "match", "u32",
       "0", "0", "action", "mirred", "egress", "redirect", "dev", hub)


def claim_subnet(name: str) -> ipaddress.IPv4Network:
    """Pick a free subnet and hold it: create the bridge ``name-br`` with the
    coordinator's address in it, which the next :func:`free_subnet` sees as used.
    Callers serialise this (``lifecycle``'s allocation lock): between the choice and the
    address two testbeds would otherwise take the same subnet."""
    subnet = free_subnet()
    bridge = f"{name}-br"
    sh("ip", "link", "add", bridge, "type", "bridge")
    sh("ip", "addr", "add", f"{address(subnet, None)}/24", "dev", bridge)
    sh("ip", "link", "set", bridge, "up")
    return subnet


def build(name: str, subnet: ipaddress.IPv4Network, devices: int, preset: Preset) -> None:
    """On the bridge of :func:`claim_subnet`: the hub (shared medium) and ``devices``
    shaped device links."""
    bridge, hub = f"{name}-br", f"{name}-hub"
    if preset.network == "shared":
        sh("ip", "link", "add", hub, "type", "ifb")
        sh("ip", "link", "set", hub, "up")
        tbf(hub, preset)
        sh("tc", "qdisc", "add", "dev", bridge, "root", "handle", "1:", "htb")  # classful, to hold a filter
        redirect(bridge, hub, "1:")
    for i in range(devices):
        ns = device_ns(name, i)
        outer, inner = ns, f"{ns}i"
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns)
        sh("ip", "link", "set", outer, "master", bridge, "up")
        sh("ip", "addr", "add", f"{address(subnet, i)}/24", "dev", inner, netns=ns)
        sh("ip", "link", "set", inner, "up", netns=ns)
        sh("ip", "link", "set", "lo", "up", netns=ns)
        if preset.network == "shared":
            sh("tc", "qdisc", "add", "dev", outer, "handle", "ffff:", "ingress")
            redirect(outer, hub, "ffff:")
        else:
            tbf(outer, preset)
            tbf(inner, preset, netns=ns)


def namespaces() -> list[str]:
    return [line.split()[0] for line in sh("ip", "netns", "list").splitlines() if line.strip()]


def links() -> list[str]:
    """Names of the links of the root namespace."""
    return [line.split(":")[1].strip().split("@")[0] for line in sh("ip", "-o", "link", "show").splitlines()]


def remove_namespace(ns: str) -> None:
    """Kill what still runs in ``ns`` (our workers) and delete it (its veth pair goes with it)."""
    import os
    import signal

    for pid in sh("ip", "netns", "pids", ns, check=False).split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    sh("ip", "netns", "del", ns, check=False)


def remove_link(link: str) -> None:
    sh("ip", "link", "del", link, check=False)
