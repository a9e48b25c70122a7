"""Device profiles: the ones shipped with parawire, the testbed's device classes, and the
fit that turns measured vertex times into a profile's compute fields.

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
* ``local`` — this machine, measured by :mod:`parawire.calibration.local` (it runs real
  networks on an engine, so it lives above the executor) and fitted here by
  :func:`fit_compute`.
"""

from __future__ import annotations

import numpy as np
from parawire.errors import ParawireError
from parawire.latency.model import DeviceProfile

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

FEATURES = ("flops_per_s", "input_overhead_s", "memory_bytes_per_s", "weight_bytes_per_s", "vertex_overhead_s")
"""The :class:`DeviceProfile` field each calibration feature column fits: rates (MACs,
input bytes, weight bytes per second) are the reciprocals of their coefficients, fixed
costs (per extra input, per vertex) the coefficients themselves."""
RATES = {"flops_per_s", "memory_bytes_per_s", "weight_bytes_per_s"}


def fit_compute(features: np.ndarray, seconds: np.ndarray) -> dict[str, float | None]:
    """Least squares ``seconds ≈ features @ coefficients`` (columns: :data:`FEATURES`) with
    every coefficient ≥ 0: a term whose unconstrained coefficient comes out negative is
    dropped and the rest refitted (five features, so this is exact enough and needs
    numpy only). Returns the profile's compute fields; a dropped rate is ``None`` (free),
    a dropped fixed cost 0.

    Why a weight term: on the calibration networks ONNX Runtime's per-vertex time is
    dominated by streaming the parameters of wide 1×1 convolutions on small maps; with
    it the median per-vertex error of the fit falls from 20 % to 2.4 % (docs/latency.md).
    """
    width = len(FEATURES)
    if features.ndim != 2 or features.shape[1] != width or len(features) != len(seconds):
        raise ParawireError(f"fit_compute: need an (n, {width}) feature matrix and n times; got "
                            f"{features.shape} and {len(seconds)}")
    keep = list(range(width))
    while True:
        coef, *_ = np.linalg.lstsq(features[:, keep], seconds, rcond=None)
        if (coef >= 0).all() or len(keep) == 1:
            break
        keep.pop(int(np.argmin(coef)))
    full = np.zeros(width)
    full[keep] = np.maximum(coef, 0)
    if full[0] <= 0:
        raise ParawireError("calibration: compute time does not grow with MACs; the machine was "
                            "too busy to measure, calibrate again with refresh=True")
    return {name: ((1 / c if c > 0 else None) if name in RATES else float(c))
            for name, c in zip(FEATURES, full)}


TCP_EFFICIENCY = 1448 / 1514
"""Payload per byte on the wire of a full TCP segment over Ethernet (1500 MTU, TCP
timestamps): what a tbf rate, which counts whole frames, leaves for tensors."""


CFS_RESERVE_S = 1e-3
"""Linux's ``min_cfs_rq_runtime`` (since 5.4): the CPU time a quota'd group keeps across
periods (:class:`parawire.latency.model.Quota`); ``parawire testbed calibrate`` measures
the kernel's own figure, this is the default until it has (0.95 ms measured here)."""


def preset_profile(preset, base: DeviceProfile, message_latency_s: float,
                   compute_scale: float = 1.0, *, engine: str, period_s: float = 0.01,
                   message_cpu_s: float = 0.0, cpu_reserve_s: float = CFS_RESERVE_S,
                   call_s: float = 0.0) -> DeviceProfile:
    """The latency model of a testbed device class (``parawire.testbed.presets.Preset``)
    whose workers compute with ``engine``.

    Compute: ``base`` (this machine on one thread with ``engine``, normally ``local``
    calibrated for it) slowed by ``compute_scale``, which :func:`fit_compute_scale` fits
    from a single-device run measured with the same engine, and limited by the device's
    CFS quota (``preset.cpu`` cores per ``period_s``), which the model applies as a
    budget of CPU time (:class:`parawire.latency.model.Quota`, with the kernel's
    ``cpu_reserve_s``), not as a slower rate: a
    quarter-core device computes short slices at full speed (docs/latency.md). The
    profile is named after the engine (``testbed-t2.micro-onnxruntime``): a rate fitted
    with one engine says nothing about another. ``message_cpu_s``: each message's CPU
    time on both devices and ``call_s``, each engine call's beyond its vertices' compute
    (``parawire testbed calibrate``). Network: the tbf rate and bucket at TCP's
    payload efficiency, ``message_latency_s`` per message (measured round trips), the
    preset's topology. The bucket matters at 32 px: most activations there (16 KB) fit in
    the 32 KB bucket and cross at once, where the rate alone charged each 1.4 ms and
    over-predicted 4 devices by 84 %."""
    # the compute terms are base's slowed; every other field is the device class's
    return DeviceProfile.model_validate({
        **base.slowed(compute_scale).model_dump(),
        "name": f"testbed-{preset.name}-{engine}",
        "bandwidth_bytes_per_s": preset.rate_mbit * 1e6 / 8 * TCP_EFFICIENCY,
        "burst_bytes": preset.burst_kb * 1024 * TCP_EFFICIENCY,
        "message_latency_s": message_latency_s,
        "network": preset.network,
        "cpu_quota": preset.cpu if preset.cpu < 1 else None,
        "cpu_period_s": period_s,
        "cpu_reserve_s": cpu_reserve_s if preset.cpu < 1 else 0.0,
        "message_cpu_s": message_cpu_s,
        "call_s": call_s,
        "source": f"testbed {preset.name}: {base.name} {engine} compute / {compute_scale:.3g} under a "
                  f"{preset.cpu:g}-core quota per {period_s * 1e3:g} ms, tbf {preset.rate_mbit:g} Mbit/s, "
                  f"{message_latency_s * 1e3:.2f} ms + {message_cpu_s * 1e3:.2f} ms CPU per message, "
                  f"{call_s * 1e3:.2f} ms per engine call",
    })


def fit_compute_scale(measured_s: float, predict, low: float = 1e-3, high: float = 1e3) -> float:
    """The ``compute_scale`` whose single-device prediction ``predict(scale)`` (seconds,
    growing with the scale) equals ``measured_s``, by bisection on a log scale to 0.1 %.

    One device only computes and moves the image and the logits, so its run fixes the one
    number the calibration cannot: how much slower than ``local`` the engine computes this
    network on a device. Under a CPU quota the prediction is not affine in the scale
    (short runs fit in one period's budget, long ones average the quota), hence the search."""
    if not predict(high) > predict(low):
        raise ParawireError("fit_compute_scale: the prediction does not grow with compute; the network computes nothing")
    for _ in range(60):
        mid = (low * high) ** 0.5
        if predict(mid) < measured_s:
            low = mid
        else:
            high = mid
        if high / low < 1.001:
            break
    return (low * high) ** 0.5
