"""One pass over a traced graph on a sample input: what each node computes and costs.

Per node: whether its value is a tensor that depends on the image (an *activation*,
the only values that may cross between units), its output bytes for one image, and
its multiply-accumulates as ``torch.utils.flop_counter.FlopCounterMode`` counts them
divided by two (the project's convention, :mod:`parawire.network.cost`: a MAC is two FLOPs;
element-wise work, pooling and normalisation count 0).

:class:`MacCounter` applies FlopCounterMode's own formulas (``flop_registry``) the way
FlopCounterMode does (an operator with a decomposition is decomposed and its parts are
counted), but without its per-module bookkeeping and remembering the operators whose
decomposition counts nothing (batch norm, element-wise ops): those run whole the next
time. FlopCounterMode decomposes every batch norm in Python on every call, which made
a 1000-block import take 20 s instead of 2. The tests check the counts against
FlopCounterMode itself, block by block and for whole models.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from parawire.models.trace import Traced
from torch import fx
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

_RUN_WHOLE: set = set()
"""Operators FlopCounterMode would not decompose, or whose decomposition counts nothing."""


class MacCounter(TorchDispatchMode):
    """FLOPs as FlopCounterMode counts them, in ``flops`` (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        formula = flop_registry.get(func._overloadpacket)
        if func not in _RUN_WHOLE and func is not torch.ops.prim.device.default:
            before = self.flops
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                if self.flops == before and formula is None:
                    _RUN_WHOLE.add(func)
                return out
            _RUN_WHOLE.add(func)
        out = func(*args, **kwargs)
        if formula is not None:
            self.flops += formula(*args, **kwargs, out_val=out)
        return out


@dataclass(frozen=True)
class NodeInfo:
    activation: bool
    macs: int
    out_bytes: int


class _Probe(fx.Interpreter):
    def __init__(self, gm: Traced, counter: MacCounter) -> None:
        super().__init__(gm)
        self.counter = counter
        self.info: dict[fx.Node, NodeInfo] = {}
        self.dependent: set[fx.Node] = set()

    def run_node(self, n: fx.Node):  # type: ignore[no-untyped-def]
        before = self.counter.flops
        value = super().run_node(n)
        flops = self.counter.flops - before
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


def probe(gm: Traced, x: torch.Tensor) -> tuple[dict[fx.Node, NodeInfo], object]:
    """Every node's :class:`NodeInfo` and the graph's output for ``x``."""
    with torch.inference_mode(), MacCounter() as counter:
        interpreter = _Probe(gm, counter)
        out = interpreter.run(x)
    return interpreter.info, out
