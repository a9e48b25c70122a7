"""One pass over a traced graph on a sample input: what each node computes and costs.

Per node: whether its value is a tensor that depends on the image (an *activation*,
the only values that may cross between units), its output bytes for one image, and
its multiply-accumulates: by the node's own formula where :mod:`parawire.models.macs`
has one (convolutions, linears, attention, ``matmul``, recurrent layers, ``einsum``),
else as ``torch.utils.flop_counter.FlopCounterMode`` counts its operators, divided by
two (the project's convention, :mod:`parawire.network.cost`: a MAC is two FLOPs;
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
from parawire.models.macs import node_macs
from parawire.models.packing import Packing, packing_of
from parawire.models.trace import Traced
from torch import fx
from torch.utils import _pytree as pytree
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
    """``packing``: set for a tuple-valued activation (sent packed, :mod:`~parawire.models.packing`)."""

    activation: bool
    macs: int
    out_bytes: int
    packing: Packing | None = None


class _Probe(fx.Interpreter):
    def __init__(self, gm: Traced, counter: MacCounter) -> None:
        super().__init__(gm)
        self.counter = counter
        self.info: dict[fx.Node, NodeInfo] = {}
        self.dependent: set[fx.Node] = set()

    def run_node(self, n: fx.Node):  # type: ignore[no-untyped-def]
        before = self.counter.flops
        value = super().run_node(n)
        macs = int(self.counter.flops - before) // 2
        if n.op in ("call_module", "call_function", "call_method"):
            args, kwargs = self.fetch_args_kwargs_from_env(n)
            module = self.fetch_attr(n.target) if n.op == "call_module" else None
            formula = node_macs(n, module, args, kwargs, value)
            macs = macs if formula is None else formula
        depends = n.op == "placeholder" or any(a in self.dependent for a in n.all_input_nodes)
        if depends:
            self.dependent.add(n)
        computed = depends and n.op in ("call_module", "call_function", "call_method")
        # a tuple is computed once, in one block, when it costs anything to compute;
        # a free one (``chunk``, ``split``, indexing) stays a helper copied to its readers
        packing = packing_of(value) if computed and (n.op == "call_module" or macs > 0) else None
        tensors = [value] if isinstance(value, torch.Tensor) else pytree.tree_leaves(value) if packing else []
        self.info[n] = NodeInfo(
            activation=computed and (isinstance(value, torch.Tensor) or packing is not None),
            macs=macs,
            out_bytes=sum(int(t.numel() * t.element_size()) for t in tensors if isinstance(t, torch.Tensor)),
            packing=packing,
        )
        return value


def probe(gm: Traced, x: torch.Tensor) -> tuple[dict[fx.Node, NodeInfo], object]:
    """Every node's :class:`NodeInfo` and the graph's output for ``x``."""
    with torch.inference_mode(), MacCounter() as counter:
        interpreter = _Probe(gm, counter)
        out = interpreter.run(x)
    return interpreter.info, out
