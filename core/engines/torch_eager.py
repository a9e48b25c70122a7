"""The ``torch`` engine: the blocks of :mod:`parawire.network.nn` as they are, in eager mode.

Blocks whose aggregation scales inputs are split into per-input steps and the rest
(:func:`parawire.executor.worker.staged`) so the runner scales each input as it arrives.
``channels_last`` stores the conv weights as NHWC, which sends torch's convolutions to
oneDNN instead of its slow reference path (``aten::_slow_conv2d_forward``); outputs
then come out NHWC too, so the next block stays on that path.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def compile_torch(net, vertices: Iterable[int], threads: int | None = None, channels_last: bool = True):
    """``{vertex: block}`` running ``net``'s own modules (converted in place).

    ``threads`` is not applied here: torch's thread count is process-wide, and the
    worker (or :func:`parawire.network.threads.torch_threads`) has set it already."""
    from parawire.executor.worker import staged

    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return {v: staged(net.blocks[str(v)]) for v in vertices}
