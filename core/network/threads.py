"""Torch's intra-op thread count, set for a block and restored after it.

The thread count is process-wide state that benchmarks, calibration, training and the
test suite all change: 1 thread is the fair single-core baseline and what worker
processes run, more is the intra-op status quo. One context manager instead of a
save/set/restore in each place.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch threads (``None``: leave the count alone)."""
    import torch

    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
