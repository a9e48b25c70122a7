"""``local``: this machine measured on demand, per inference engine, and cached.

ONNX Runtime computes the same blocks several times faster than torch eager, so one
profile cannot serve both. Real parawire blocks (two small calibration networks built
with ``parawire.network.nn``, compiled by the engine and run vertex by vertex on one
thread) are fitted by least squares (:func:`parawire.latency.profiles.fit_compute`) to
MACs / rate + per-vertex and per-input fixed costs + bytes read / memory rate + weight
bytes / weight rate; the executor's own message path (protocol encode, ZeroMQ ipc,
decode into a tensor) gives per-message latency and bandwidth. Cached as JSON, so it is
measured once.

It compiles networks with an engine plugin and sends executor messages, so it sits above
the executor and the engines; the latency model itself (``parawire.latency``) does not.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import statistics
import threading
import time
from pathlib import Path

import numpy as np
from parawire.errors import ParawireError
from parawire.executor.protocol import Kind, decode, tensor_frames
from parawire.executor.runner import StagedBlock
from parawire.graph.spec import ArchitectureSpec
from parawire.latency.model import DeviceProfile, dag_shape, input_bytes
from parawire.latency.profiles import KNOWN, SHIPPED, fit_compute
from parawire.network.cost import FLOAT32_BYTES
from parawire.network.nn import build_network
from parawire.network.threads import torch_threads
from parawire.pipeline.build import build_architecture
from parawire.registry.kinds import builtin
from parawire.registry.manager import get_plugins, resolve_engine
from parawire.registry.records import DEFAULT_ENGINE, CompileContext

CALIBRATION_VERSION = 4
# Networks whose blocks calibrate ``local``: a sparse (DP) and a dense (ER) one, so the
# fit sees single-input blocks and wide aggregations; seeds differ from the usual 0.
# parawire's own plugins by qualified name: another distribution's `er` changes nothing.
CALIBRATION_SPECS = tuple(
    ArchitectureSpec(generator=builtin(g), staging=builtin("probabilistic"), nodes=40, seed=101,
                     input_shape=(3, 32, 32))
    for g in ("dp", "er")
)


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/parawire or ~/.cache/parawire: measured profiles live there."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "parawire"


def cache_path(engine: str | None = None, engine_params: dict | None = None) -> Path:
    """Where ``local`` is cached: $XDG_CACHE_HOME/parawire or ~/.cache/parawire.

    The file name carries the engine, a digest of its parameters when it has any, and
    the calibration's version, so a profile measured for another engine, other
    parameters, or by an older calibration, is not silently reused.
    """
    name = (engine or DEFAULT_ENGINE).removeprefix(builtin(""))  # parawire:torch is torch
    if engine_params:
        digest = hashlib.sha256(json.dumps(engine_params, sort_keys=True, default=str).encode()).hexdigest()
        name += f"-{digest[:12]}"
    return cache_dir() / f"profile-local-{name}-v{CALIBRATION_VERSION}.json"


def get_profile(name: str, path: Path | None = None, engine: str | None = None,
                engine_params: dict | None = None) -> DeviceProfile:
    """A shipped profile by name; ``local`` (for ``engine`` with ``engine_params``, default
    the default engine) is read from its cache or measured once."""
    if name in SHIPPED:
        return SHIPPED[name]
    if name == "local":
        return calibrate(path=path, engine=engine, engine_params=engine_params)
    raise ParawireError(f"profile: got {name!r}; known profiles: {', '.join(KNOWN)}")


def calibrate(seconds: float = 2.5, path: Path | None = None, refresh: bool = False,
              engine: str | None = None, engine_params: dict | None = None) -> DeviceProfile:
    """Measure this machine with ``engine`` and its ``engine_params`` (about ``seconds`` of
    measuring, plus building two small networks) and cache the profile as JSON.

    An existing cache is returned as is unless ``refresh``.
    """
    path = Path(path) if path is not None else cache_path(engine, engine_params)
    if path.exists() and not refresh:
        try:
            saved = json.loads(path.read_text())
            if isinstance(saved, dict):  # a field an older parawire saved and this one dropped says nothing now
                saved = {key: value for key, value in saved.items() if key in DeviceProfile.model_fields}
            return DeviceProfile.model_validate(saved)
        except ValueError as exc:
            raise ParawireError(f"profile cache {path}: unreadable ({exc.__class__.__name__}); "
                                "delete it or calibrate with refresh=True") from exc
    features, seconds_per_vertex = measure_vertices(seconds * 2 / 3, engine, engine_params)
    compute = fit_compute(features, seconds_per_vertex)
    latency, bandwidth = measure_messages(seconds / 3)
    profile = DeviceProfile(
        name="local",
        bandwidth_bytes_per_s=bandwidth,
        message_latency_s=latency,
        network="switched",
        **compute,
        source=f"calibrated {time.strftime('%Y-%m-%d')} (v{CALIBRATION_VERSION}): parawire blocks on "
               f"the {engine or DEFAULT_ENGINE} engine, 1 thread (CPU time), executor protocol over zmq ipc",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(profile.model_dump(), indent=2) + "\n")
    return profile


def measure_vertices(seconds: float, engine: str | None = None,
                     engine_params: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
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

    record = get_plugins().engines.get(resolve_engine(engine))
    params = record.resolve(engine_params)

    features, times = [], []
    with torch_threads(1):
        for spec in CALIBRATION_SPECS:
            arch = build_architecture(spec)
            net = build_network(arch).eval()
            dag, shape = arch.dag, dag_shape(arch.dag)
            x = torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(0))
            with torch.inference_mode():
                compiled = record.invoke(CompileContext(net, dag.order, 1), params)
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
