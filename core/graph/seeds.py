"""One seed, many independent streams.

A spec's single ``seed`` fixes the graph, the staging coin flips, the weights and the
partitioner. Each consumer draws from its own named stream so that, for example, adding
a staging coin flip never changes the graph drawn from the same seed.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream_key(name: str) -> int:
    """A stable 32-bit key for a stream name (``hash()`` is salted per process)."""
    return zlib.crc32(name.encode())


def rng(seed: int, stream: str, *extra: int) -> np.random.Generator:
    """A numpy Generator for ``(seed, stream, *extra)``: same inputs, same numbers."""
    return np.random.default_rng(np.random.SeedSequence([seed, stream_key(stream), *extra]))


def derived_seed(seed: int, stream: str, *extra: int) -> int:
    """A 63-bit integer seed for libraries that take an int (torch, pymetis)."""
    return int(rng(seed, stream, *extra).integers(0, 2**63 - 1))
