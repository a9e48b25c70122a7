"""Networks whose output depends on the image, for tests that compare outputs.

Why: an untrained network's BatchNorms hold their initial statistics (mean 0, variance
1), so in eval mode nothing renormalises, and every single-input vertex halves its input
(the aggregation's sigmoid(0)). FB-18 at 33 px ends with pooled features of 1e-8 and
logits equal to the classifier's bias for every image, so "equal to one process within
1e-4 of the logits" held whatever the tiles computed. Re-estimating each BatchNorm's
statistics on random images, as training would, keeps every map of order one.
"""

from __future__ import annotations

import torch
from parawire.executor.plan import Plan
from parawire.executor.tiles import graph_part, tiled_vertices_of
from safetensors.torch import save


def normalised(net, batches: int = 2, images: int = 4, seed: int = 0):
    """``net`` (in place, returned) with BatchNorm statistics of random images, in eval mode."""
    shape = net.arch.spec.input_shape
    generator = torch.Generator().manual_seed(seed)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
    net.train()
    with torch.no_grad():
        for _ in range(batches):
            net(torch.randn(images, *shape, generator=generator))
    return net.eval()


def unit_weights(net, plan: Plan) -> dict[int, bytes]:
    """Each unit's part of ``net``'s state dict as safetensors bytes (what ``deploy`` ships)."""
    state = net.state_dict()
    out = {}
    for unit in plan.unit_plans:
        mine = {str(v) for v in [*graph_part(unit).vertices, *tiled_vertices_of(unit)]}
        out[unit.unit] = save({k: v.contiguous() for k, v in state.items() if k.split(".")[1] in mine})
    return out
