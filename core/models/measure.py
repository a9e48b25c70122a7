"""One pass over a traced graph on a sample input: what each node computes and costs.

Per node: whether its value is a tensor that depends on the image (an *activation*,
the only values that may cross between units), its output bytes for one image, and
its multiply-accumulates as ``torch.utils.flop_counter.FlopCounterMode`` counts them
divided by two (the project's convention, :mod:`parawire.cost`: a MAC is two FLOPs;
element-wise work, pooling and normalisation count 0). Counting node by node inside
one ``FlopCounterMode`` keeps this to a single forward pass; the per-block sums are
checked against the counter run on each block alone in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import fx
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class NodeInfo:
    activation: bool
    macs: int
    out_bytes: int


class _Probe(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule, counter: FlopCounterMode) -> None:
        super().__init__(gm)
        self.counter = counter
        self.info: dict[fx.Node, NodeInfo] = {}
        self.dependent: set[fx.Node] = set()

    def run_node(self, n: fx.Node):  # type: ignore[no-untyped-def]
        before = self.counter.get_total_flops()
        value = super().run_node(n)
        flops = self.counter.get_total_flops() - before
        depends = n.op == "placeholder" or any(a in self.dependent for a in n.all_input_nodes)
        if depends:
            self.dependent.add(n)
        tensor = isinstance(value, torch.Tensor)
        self.info[n] = NodeInfo(
            activation=tensor and depends and n.op in ("call_module", "call_function", "call_method"),
            macs=int(flops) // 2,
            out_bytes=int(value.numel() * value.element_size()) if tensor else 0,
        )
        return value


def probe(gm: fx.GraphModule, x: torch.Tensor) -> tuple[dict[fx.Node, NodeInfo], object]:
    """Every node's :class:`NodeInfo` and the graph's output for ``x``."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        interpreter = _Probe(gm, counter)
        out = interpreter.run(x)
    return interpreter.info, out
