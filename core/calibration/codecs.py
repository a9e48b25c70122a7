"""What a codec costs on this machine, in the latency model's units, measured once and cached.

The model charges a codec's encode and decode work in multiply-add equivalents
(:class:`~parawire.pipeline.wire.CodecCost`), so one measurement serves every profile: a
testbed device with a quarter of a core runs the codec four times slower exactly as it
runs its convolutions. Here each codec encodes and decodes activation-like tensors of
two sizes on one thread (CPU time, as ``local`` is measured), a fixed and a per-byte
term are fitted through them, and seconds become MACs at the ``local`` profile's rate
for the engine. Cached as JSON beside the profile, keyed by the codec's label.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from parawire.calibration.local import cache_path, get_profile
from parawire.network.threads import torch_threads
from parawire.pipeline.wire import FREE, CodecCost
from parawire.registry.codecs import CodecChoice, get_codec

COST_VERSION = 2
"""2: int8 encode got ~2× faster (amin/amax instead of aminmax); costs measured before are stale."""
SIZES = ((1, 16, 16, 16), (1, 64, 64, 64))
"""16 KB and 1 MB of float32: the main job's small activations and a 224 px one."""


def cost_cache(engine: str | None = None) -> Path:
    return cache_path(engine).with_name(f"codec-costs-{engine or 'default'}-v{COST_VERSION}.json")


def codec_cost(choice: CodecChoice, engine: str | None = None, refresh: bool = False) -> CodecCost:
    """``choice``'s calibrated cost (``raw`` is free: it copies nothing), measured on first use."""
    if choice.raw:
        return FREE
    path = cost_cache(engine)
    table = json.loads(path.read_text()) if path.exists() else {}
    if refresh or choice.label not in table:
        rate = get_profile("local", engine=engine).flops_per_s
        table[choice.label] = {k: v * rate for k, v in measure(choice).items()}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")
    return CodecCost(**table[choice.label])


def measure(choice: CodecChoice, repeats: int = 15) -> dict[str, float]:
    """Seconds: fixed and per raw byte, to encode and to decode (best of ``repeats`` each)."""
    import torch

    codec = get_codec(choice)
    points = []
    with torch_threads(1), torch.inference_mode():
        for shape in SIZES:
            x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
            frame = codec.encode(x)
            encode = _best(lambda x=x: codec.encode(x), repeats)
            decode = _best(lambda x=x, frame=frame, shape=shape: codec.decode(memoryview(frame).cast("B"), x.dtype, shape),
                           repeats)
            points.append((x.numel() * x.element_size(), encode, decode))
    (small, e0, d0), (big, e1, d1) = points
    per_e, per_d = max(e1 - e0, 0.0) / (big - small), max(d1 - d0, 0.0) / (big - small)
    return {"encode_fixed": max(e0 - per_e * small, 0.0), "encode_per_byte": per_e,
            "decode_fixed": max(d0 - per_d * small, 0.0), "decode_per_byte": per_d}


def _best(call, repeats: int) -> float:
    call()
    best = float("inf")
    for _ in range(repeats):
        start = time.thread_time()
        call()
        best = min(best, time.thread_time() - start)
    return best
