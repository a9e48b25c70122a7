"""Device profiles shipped with parawire, and "this machine" measured on demand.

The numbers and the reasoning behind them are in docs/latency.md. In short:

* ``edge`` — the paper's AWS t2.micro nodes (§6.1, Figure 13): one vCPU (hyperthread)
  of a 2.4–3.3 GHz Haswell/Broadwell Xeon behind a hypervisor, AVX2 only. One thread
  of this machine's newer Xeon runs the separable block at ~20 GMAC/s (calibrate);
  depthwise convs are memory-bound and the old core has half the vector width, so we
  take a quarter of that: 5 GMAC/s.
  t2 instances have "low to moderate" networking, about 100 Mbit/s sustained, and all
  nodes share it: one shared bus of 12.5 MB/s, 0.3 ms per message (same-zone round
  trips are 0.2–0.5 ms, plus TCP and ZeroMQ framing).
* ``lan`` — desktop CPUs (4 cores each, PyTorch's intra-op threads, which scale the
  block ~2× over one thread) on switched gigabit Ethernet: 40 GMAC/s per unit, 117.5 MB/s TCP goodput per link, 0.1 ms per message.
* ``local`` — this machine, from :func:`calibrate`: the measured rate of a
  ReLU–depthwise–pointwise–BN block on one torch thread, and a ZeroMQ TCP loopback
  round trip for latency and bandwidth. Cached as JSON, so it is measured once.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from pathlib import Path

from parawire.errors import ParawireError
from parawire.latency import DeviceProfile

EDGE = DeviceProfile(
    name="edge",
    flops_per_s=5e9,
    bandwidth_bytes_per_s=12.5e6,
    message_latency_s=3e-4,
    network="shared",
    source="AWS t2.micro: 1 vCPU, separable convs ~5 GMAC/s; ~100 Mbit/s shared, 0.3 ms/message",
)
LAN = DeviceProfile(
    name="lan",
    flops_per_s=40e9,
    bandwidth_bytes_per_s=117.5e6,
    message_latency_s=1e-4,
    network="switched",
    source="4-core desktop CPUs: ~40 GMAC/s; switched gigabit Ethernet, 940 Mbit/s TCP, 0.1 ms",
)
SHIPPED = {p.name: p for p in (EDGE, LAN)}
KNOWN = (*SHIPPED, "local")


def cache_path() -> Path:
    """Where ``local`` is cached: $XDG_CACHE_HOME/parawire or ~/.cache/parawire."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "parawire" / "profile-local.json"


def get_profile(name: str, path: Path | None = None) -> DeviceProfile:
    """A shipped profile by name; ``local`` is read from its cache or measured once."""
    if name in SHIPPED:
        return SHIPPED[name]
    if name == "local":
        return calibrate(path=path)
    raise ParawireError(f"profile: got {name!r}; known profiles: {', '.join(KNOWN)}")


def calibrate(seconds: float = 2.0, path: Path | None = None, refresh: bool = False) -> DeviceProfile:
    """Measure this machine (about ``seconds`` in all) and cache the profile as JSON.

    An existing cache is returned as is unless ``refresh``. torch and zmq are imported
    here only, so the rest of the latency model stays import-light.
    """
    path = Path(path) if path is not None else cache_path()
    if path.exists() and not refresh:
        try:
            return DeviceProfile.model_validate_json(path.read_text())
        except ValueError as exc:
            raise ParawireError(f"profile cache {path}: unreadable ({exc.__class__.__name__}); "
                                "delete it or calibrate with refresh=True") from exc
    rate = measure_block_rate(seconds / 2)
    latency, bandwidth = measure_loopback(seconds / 2)
    profile = DeviceProfile(
        name="local",
        flops_per_s=rate,
        bandwidth_bytes_per_s=bandwidth,
        message_latency_s=latency,
        network="switched",
        source=f"calibrated {time.strftime('%Y-%m-%d')}: torch 1 thread, zmq tcp loopback",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(profile.model_dump(), indent=2) + "\n")
    return profile


def measure_block_rate(seconds: float, channels: int = 64, size: int = 28) -> float:
    """Multiply-adds per second of ReLU–depthwise 3×3–pointwise–BN on one torch thread.

    MACs are counted as core/cost.py counts them (convs only), so the rate converts
    ``Costs.flops`` straight into seconds.
    """
    import torch
    from torch import nn

    block = nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
        nn.Conv2d(channels, channels, 1, bias=False),
        nn.BatchNorm2d(channels),
    ).eval()
    x = torch.randn(1, channels, size, size)
    macs = channels * size * size * 9 + channels * channels * size * size
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            times = _repeat(lambda: block(x), seconds)
    finally:
        torch.set_num_threads(threads)
    return macs / statistics.median(times)


def measure_loopback(seconds: float, big: int = 4 << 20) -> tuple[float, float]:
    """(one-way seconds per message, bytes per second) over ZeroMQ TCP on 127.0.0.1.

    Latency is half the median round trip of a 1-byte message; bandwidth comes from
    the extra round-trip time of a ``big``-byte message over the small one.
    """
    import zmq

    ctx = zmq.Context()
    server = ctx.socket(zmq.PAIR)
    port = server.bind_to_random_port("tcp://127.0.0.1")
    client = ctx.socket(zmq.PAIR)
    client.connect(f"tcp://127.0.0.1:{port}")

    def echo() -> None:
        while (msg := server.recv(copy=False)).bytes != b"stop":
            server.send(b"k" if len(msg) > 1 else msg, copy=False)

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    payload = b"x" * big
    try:
        small = _repeat(lambda: (client.send(b"p"), client.recv()), seconds / 2)
        large = _repeat(lambda: (client.send(payload, copy=False), client.recv()), seconds / 2)
        client.send(b"stop")
        thread.join(timeout=5)
    finally:
        client.close(linger=0)
        server.close(linger=0)
        ctx.term()
    rtt_small, rtt_large = statistics.median(small), statistics.median(large)
    return rtt_small / 2, big / max(rtt_large - rtt_small, 1e-9)


def _repeat(call, seconds: float, least: int = 5) -> list[float]:
    """Wall times of ``call`` after one warm-up, repeated for ``seconds`` (at least ``least``)."""
    call()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < least or time.perf_counter() < deadline:
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return times
