"""Analytical per-vertex costs: multiply-adds, parameters, output bytes (no torch).

These become the hypergraph's vertex weights (``flops``) and net costs (``out_bytes``)
and the parameter counts of the Table 4 study, so they must be exact and cheap.

Conventions (docs/network.md):

* ``flops`` counts **multiply-accumulates (MACs)** of convolutions and linear layers
  only, for one image: a conv costs ``C_out·H_out·W_out·(C_in/groups)·kh·kw``, a linear
  layer ``in·out``. Biases, BatchNorm, ReLU, sigmoid, max-pooling, global average
  pooling and the weighted sum count 0: they are elementwise, memory-bound, and BN
  folds into the preceding conv at inference. ``torch.utils.flop_counter`` counts
  exactly ``2 × flops`` (it counts a MAC as two FLOPs and ignores the same operations).
* ``params`` equals ``sum(p.numel())`` of the vertex's torch block, scaling blocks and
  aggregation weights included (BN running statistics are buffers, not parameters).
  Every vertex but the stem has one aggregation weight per incoming edge, also when it
  has a single input.
* ``out_bytes`` is the float32 size of the vertex's output for one image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from parawire.network.shapes import Layout

FLOAT32_BYTES = 4


@dataclass(frozen=True, eq=False)
class Costs:
    """Per-vertex int64 arrays indexed by DAG vertex id ``0..N+1``; ``scaled[v]``: the
    inputs of ``v`` that pass a scaling block (a worker scales each as it arrives, one
    engine call each: :func:`parawire.latency.calls.engine_calls` counts them)."""

    flops: np.ndarray
    params: np.ndarray
    out_bytes: np.ndarray
    scaled: dict[int, tuple[int, ...]] = field(default_factory=dict)

    @property
    def total_params(self) -> int:
        return int(self.params.sum())

    @property
    def total_flops(self) -> int:
        return int(self.flops.sum())


def _scaling_costs(layout: Layout, v: int) -> tuple[int, int]:
    """MACs and parameters of v's 1×1 scaling convs (max-pools cost nothing here)."""
    _, h, w = layout.in_shape[v]
    macs = params = 0
    for block in layout.scaling.get(v, ()):
        if block.channels is not None:
            c_in, c_out = block.channels
            params += c_in * c_out
            macs += c_out * h * w * c_in
    return int(macs), int(params)


def costs(layout: Layout) -> Costs:
    """Costs of every vertex of ``layout`` (see the module docstring for the rules)."""
    dag = layout.dag
    size = dag.nodes + 2
    flops = np.zeros(size, dtype=np.int64)
    params = np.zeros(size, dtype=np.int64)
    for v in range(size):
        c_in = int(layout.in_shape[v][0])
        c_out, h_out, w_out = (int(x) for x in layout.out_shape[v])
        if v == dag.input:  # 3×3 conv (no bias) + BN
            flops[v] = c_out * h_out * w_out * c_in * 9
            params[v] = c_in * c_out * 9 + 2 * c_out
            continue
        macs, weights = _scaling_costs(layout, v)
        weights += len(dag.preds[v])  # aggregation weights
        if v == dag.output:  # global average pool + linear with bias
            macs += c_in * c_out
            weights += c_in * c_out + c_out
        else:  # depthwise 3×3 + pointwise 1×1 (no biases) + BN
            macs += c_in * h_out * w_out * 9 + c_out * h_out * w_out * c_in
            weights += c_in * 9 + c_in * c_out + 2 * c_out
        flops[v] = macs
        params[v] = weights
    out_bytes = layout.out_shape.prod(axis=1) * FLOAT32_BYTES
    scaled = {v: tuple(block.pred for block in blocks) for v, blocks in layout.scaling.items()}
    return Costs(flops=flops, params=params, out_bytes=out_bytes.astype(np.int64), scaled=scaled)
