"""One tensor through each built-in codec, encode and decode, on one thread.

    pytest benchmarks/test_bench_codecs.py --benchmark-only --benchmark-columns=median,iqr,rounds

Sizes: 16 KB (the main job's DP-40 activations, 16×16×16) and 1 MB (64×64×64, a
224 px map). The latency model charges a codec's calibrated cost per raw byte
(``parawire.calibration.codecs``), so an encoder that costs more than its bytes save is
never chosen by ``--codec auto``; ``int8`` encode is the row to watch against ``fp16``
(issue 23: ~27 MAC-equivalents per byte while it took each channel's range with
``torch.aminmax``). To compare two
commits, run this file on each and divide the ``int8-encode`` medians by the
``fp16-encode`` ones of the same run.
"""

from __future__ import annotations

import pytest
import torch
from parawire.network.threads import torch_threads
from parawire.registry.codecs import get_codec

SHAPES = {"16KB": (1, 16, 16, 16), "1MB": (1, 64, 64, 64)}
CODECS = ("fp16", "bf16", "int8")


def activation(shape: tuple[int, ...]) -> torch.Tensor:
    """A batch-normalised ReLU output: half zeros, channels of different ranges."""
    g = torch.Generator().manual_seed(0)
    return torch.relu(torch.randn(shape, generator=g) * torch.linspace(0.1, 5, shape[1]).view(1, -1, 1, 1))


@pytest.mark.parametrize("size", SHAPES)
@pytest.mark.parametrize("name", CODECS)
def test_bench_encode(benchmark, name, size):
    codec, x = get_codec(name), activation(SHAPES[size])
    benchmark.group = f"codec encode {size}"
    benchmark.name = f"{name}-encode-{size}"
    with torch_threads(1):
        frame = benchmark(codec.encode, x)
    assert memoryview(frame).nbytes == codec.encoded_bytes(torch.float32, SHAPES[size])


@pytest.mark.parametrize("size", SHAPES)
@pytest.mark.parametrize("name", CODECS)
def test_bench_decode(benchmark, name, size):
    codec, x = get_codec(name), activation(SHAPES[size])
    frame = memoryview(codec.encode(x)).cast("B")
    benchmark.group = f"codec decode {size}"
    benchmark.name = f"{name}-decode-{size}"
    with torch_threads(1):
        y = benchmark(codec.decode, frame, torch.float32, SHAPES[size])
    assert y.shape == x.shape
