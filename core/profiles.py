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
* ``local`` — this machine, from :func:`calibrate`, per inference engine (ONNX Runtime
  computes the same blocks several times faster than torch eager, so one profile cannot
  serve both): real parawire blocks (two small calibration networks built with
  ``parawire.nn``, compiled by the engine and run vertex by vertex on one thread) fitted by least squares to MACs / rate + per-vertex and per-input fixed
  costs + bytes read / memory rate + weight bytes / weight rate; and the executor's own message path (protocol
  encode, ZeroMQ ipc, decode into a tensor) for per-message latency and bandwidth.
  Cached as JSON, so it is measured once.
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import threading
import time
from pathlib import Path

import numpy as np
from parawire.cost import FLOAT32_BYTES
from parawire.errors import ParawireError
from parawire.latency import DeviceProfile
from parawire.spec import ArchitectureSpec

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
CALIBRATION_VERSION = 4
# Networks whose blocks calibrate ``local``: a sparse (DP) and a dense (ER) one, so the
# fit sees single-input blocks and wide aggregations; seeds differ from the usual 0.
CALIBRATION_SPECS = (
    ArchitectureSpec(generator="dp", nodes=40, seed=101, input_shape=(3, 32, 32)),
    ArchitectureSpec(generator="er", nodes=40, seed=101, input_shape=(3, 32, 32)),
)


def cache_path(engine: str | None = None) -> Path:
    """Where ``local`` is cached: $XDG_CACHE_HOME/parawire or ~/.cache/parawire.

    The file name carries the engine and the calibration's version, so a profile
    measured for another engine, or by an older calibration, is not silently reused.
    """
    from parawire.engines import DEFAULT_ENGINE

    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "parawire" / f"profile-local-{engine or DEFAULT_ENGINE}-v{CALIBRATION_VERSION}.json"


def get_profile(name: str, path: Path | None = None, engine: str | None = None) -> DeviceProfile:
    """A shipped profile by name; ``local`` (for ``engine``, default the default engine)
    is read from its cache or measured once."""
    if name in SHIPPED:
        return SHIPPED[name]
    if name == "local":
        return calibrate(path=path, engine=engine)
    raise ParawireError(f"profile: got {name!r}; known profiles: {', '.join(KNOWN)}")


def calibrate(seconds: float = 2.5, path: Path | None = None, refresh: bool = False,
              engine: str | None = None) -> DeviceProfile:
    """Measure this machine with ``engine`` (about ``seconds`` of measuring, plus
    building two small networks) and cache the profile as JSON.

    An existing cache is returned as is unless ``refresh``. torch and zmq are imported
    here only, so the rest of the latency model stays import-light.
    """
    from parawire.engines import DEFAULT_ENGINE

    engine = engine or DEFAULT_ENGINE
    path = Path(path) if path is not None else cache_path(engine)
    if path.exists() and not refresh:
        try:
            return DeviceProfile.model_validate_json(path.read_text())
        except ValueError as exc:
            raise ParawireError(f"profile cache {path}: unreadable ({exc.__class__.__name__}); "
                                "delete it or calibrate with refresh=True") from exc
    features, seconds_per_vertex = measure_vertices(seconds * 2 / 3, engine)
    compute = fit_compute(features, seconds_per_vertex)
    latency, bandwidth = measure_messages(seconds / 3)
    profile = DeviceProfile(
        name="local",
        bandwidth_bytes_per_s=bandwidth,
        message_latency_s=latency,
        network="switched",
        **compute,
        source=f"calibrated {time.strftime('%Y-%m-%d')} (v{CALIBRATION_VERSION}): parawire blocks on "
               f"the {engine} engine, 1 thread (CPU time), executor protocol over zmq ipc",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(profile.model_dump(), indent=2) + "\n")
    return profile


def measure_vertices(seconds: float, engine: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex features ``[MACs, inputs beyond the first, input bytes, weight bytes, 1]``
    (:data:`FEATURES`) and CPU seconds of the
    :data:`CALIBRATION_SPECS` networks, compiled by ``engine`` (default: the default
    engine) as a worker compiles them, one thread.

    Each pass runs a whole network vertex by vertex in topological order (so caches are
    as cold as in a real inference, unlike timing one block in a loop) and the median
    over passes is kept. Thread CPU time rather than wall time: other jobs on a shared
    machine then inflate the numbers much less, and the model is meant for a machine
    that is not shared.
    """
    import torch
    from parawire.architecture import build_architecture
    from parawire.engines import DEFAULT_ENGINE
    from parawire.latency import dag_shape, input_bytes
    from parawire.manager import get_plugins
    from parawire.nn import build_network
    from parawire.threads import torch_threads

    record = get_plugins().engines.get(engine or DEFAULT_ENGINE)

    features, times = [], []
    with torch_threads(1):
        for spec in CALIBRATION_SPECS:
            arch = build_architecture(spec)
            net = build_network(arch).eval()
            dag, shape = arch.dag, dag_shape(arch.dag)
            x = torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(0))
            with torch.inference_mode():
                compiled = record.compile(net=net, vertices=dag.order, threads=1)
                blocks = [_whole(compiled[v]) for v in range(shape.n)]
                passes = _repeat(functools.partial(_timed_pass, dag.order, shape.preds, blocks, x),
                                 seconds / len(CALIBRATION_SPECS), least=3)
            in_bytes = input_bytes(dag, arch.costs.out_bytes)
            weight_bytes = np.asarray(arch.costs.params, dtype=np.float64) * FLOAT32_BYTES
            features.append(np.column_stack([arch.costs.flops, shape.inputs, in_bytes, weight_bytes,
                                             np.ones(shape.n)]))
            times.append(np.median(np.array(passes), axis=0))
    return np.vstack(features), np.concatenate(times)


def _whole(block):
    """A compiled block as one call: a staged block's per-input steps, then the rest."""
    from parawire.executor.runner import StagedBlock

    if not isinstance(block, StagedBlock):
        return block
    steps, rest = block.steps, block.rest
    return lambda inputs: rest([steps[j](x) if j in steps else x for j, x in enumerate(inputs)])


def _timed_pass(order, preds, blocks, x) -> list[float]:
    """One inference vertex by vertex; thread CPU seconds of each vertex."""
    values, spent = {}, [0.0] * len(blocks)
    for v in order:
        inputs = [values[p] for p in preds[v]] or [x]
        t0 = time.thread_time()
        values[v] = blocks[v](inputs)
        spent[v] = time.thread_time() - t0
    return spent


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


def measure_messages(seconds: float, small: int = 64, big: int = 1 << 20) -> tuple[float, float]:
    """(one-way seconds per message, bytes per second) of the executor's message path.

    A float32 tensor is encoded with ``protocol.tensor_frames``, sent over ZeroMQ ipc,
    decoded (``protocol.decode``, ``torch.frombuffer``) and sent back the same way, as
    workers do with activations. Latency is half the median round trip of a
    ``small``-byte tensor; bandwidth comes from the extra time of a ``big``-byte one.
    """
    import tempfile

    import torch
    import zmq
    from parawire.executor.protocol import Kind, decode, tensor_frames

    def frames(tensor: torch.Tensor) -> list:
        return tensor_frames(Kind.TENSOR, tensor, request=1, vertex=0)

    ctx = zmq.Context()
    with tempfile.TemporaryDirectory(prefix="parawire-cal-") as tmp:
        address = f"ipc://{tmp}/echo"
        server, client = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
        server.bind(address)
        client.connect(address)

        def echo() -> None:
            while True:
                message = decode(server.recv_multipart(copy=False))
                if message.vertex == 1:
                    return
                server.send_multipart(frames(message.tensor), copy=False)

        def round_trip(tensor: torch.Tensor) -> None:
            client.send_multipart(frames(tensor), copy=False)
            decode(client.recv_multipart(copy=False))

        thread = threading.Thread(target=echo, daemon=True)
        thread.start()
        little, large = torch.zeros(small // 4), torch.zeros(big // 4)
        try:
            rtt_small = statistics.median(_repeat(lambda: round_trip(little), seconds / 2))
            rtt_large = statistics.median(_repeat(lambda: round_trip(large), seconds / 2))
            client.send_multipart(tensor_frames(Kind.TENSOR, little, request=1, vertex=1))
            thread.join(timeout=5)
        finally:
            client.close(linger=0)
            server.close(linger=0)
            ctx.term()
    return rtt_small / 2, 2 * (big - small) / max(rtt_large - rtt_small, 1e-9)


def _repeat(call, seconds: float, least: int = 5) -> list:
    """Results of ``call`` (wall seconds when it returns None) after one warm-up,
    repeated for ``seconds`` of wall time (at least ``least`` times)."""
    call()
    results: list = []
    deadline = time.perf_counter() + seconds
    while len(results) < least or time.perf_counter() < deadline:
        t0 = time.perf_counter()
        value = call()
        results.append(time.perf_counter() - t0 if value is None else value)
    return results


TCP_EFFICIENCY = 1448 / 1514
"""Payload per byte on the wire of a full TCP segment over Ethernet (1500 MTU, TCP
timestamps): what a tbf rate, which counts whole frames, leaves for tensors."""


def preset_profile(preset, base: DeviceProfile, message_latency_s: float,
                   compute_scale: float = 1.0, *, engine: str) -> DeviceProfile:
    """The latency model of a testbed device class (``parawire.testbed.presets.Preset``)
    whose workers compute with ``engine``.

    Compute: ``base`` (this machine on one thread with ``engine``, normally ``local``
    calibrated for it) slowed by the CPU quota (``preset.cpu`` cores) and by
    ``compute_scale``, which :func:`fit_compute_scale` fits from a single-device run
    measured with the same engine (throttling, CURVE decryption, other jobs on the
    machine). The profile is named after the engine (``testbed-t2.micro-onnxruntime``):
    a rate fitted with one engine says nothing about another. Network: the tbf rate and
    bucket at TCP's payload efficiency, ``message_latency_s`` per message (measured round
    trips), the preset's topology. The bucket matters at 32 px: most activations there
    (16 KB) fit in the 32 KB bucket and cross at once, where the rate alone charged each
    1.4 ms and over-predicted 4 devices by 84 %."""
    slow = compute_scale / preset.cpu
    return DeviceProfile(
        name=f"testbed-{preset.name}-{engine}",
        flops_per_s=base.flops_per_s / slow,
        bandwidth_bytes_per_s=preset.rate_mbit * 1e6 / 8 * TCP_EFFICIENCY,
        burst_bytes=preset.burst_kb * 1024 * TCP_EFFICIENCY,
        message_latency_s=message_latency_s,
        network=preset.network,
        vertex_overhead_s=base.vertex_overhead_s * slow,
        input_overhead_s=base.input_overhead_s * slow,
        memory_bytes_per_s=None if base.memory_bytes_per_s is None else base.memory_bytes_per_s / slow,
        weight_bytes_per_s=None if base.weight_bytes_per_s is None else base.weight_bytes_per_s / slow,
        source=f"testbed {preset.name}: {preset.cpu:g} core × {base.name} {engine} compute / {compute_scale:.3g}, "
               f"tbf {preset.rate_mbit:g} Mbit/s, {message_latency_s * 1e3:.2f} ms/message",
    )


def fit_compute_scale(measured_s: float, compute_s: float, transfer_s: float) -> float:
    """The ``compute_scale`` that makes a single-device prediction equal ``measured_s``:
    one device only computes (``compute_s`` at scale 1) and moves the image and logits
    (``transfer_s``), one after the other, so the prediction is affine in the scale."""
    if compute_s <= 0:
        raise ParawireError("fit_compute_scale: the network computes nothing")
    return max((measured_s - transfer_s) / compute_s, 1e-3)
