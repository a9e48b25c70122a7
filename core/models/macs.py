"""Multiply-adds of one traced node from the shapes of its inputs and output.

Why formulas per node and not only PyTorch's ``FlopCounterMode``: that counter sees
dispatcher operators, and the fused ones a real model reaches on CPU in eval mode
have no formula there (``_scaled_dot_product_flash_attention_for_cpu``,
``_native_multi_head_attention``, ``_transformer_encoder_layer_fwd``, the ``lstm``/``gru``
kernels): a transformer encoder counted 0 and a ViT a third too little. Here the fx node
itself says what it is (``nn.MultiheadAttention``, ``F.scaled_dot_product_attention``,
``matmul``, ``nn.LSTM``, ``einsum`` …), and its multiply-adds follow from the shapes the
sample pass propagates, by the textbook formulas (the tests derive them by hand).
Nodes without a rule keep the dispatcher count (:class:`parawire.models.measure.MacCounter`).
That counter has formulas for ``mm``, ``bmm``, ``addmm``, ``baddbmm`` and convolutions
only: ``mv``, ``dot``, ``addmv``, ``addbmm`` and ``nn.Bilinear`` (``_trilinear``) counted
0 there, so they have rules here too.

The project's convention (:mod:`parawire.network.cost`): one multiply-add per
weight × input product; biases, softmax, normalisation and element-wise work count 0.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

import torch
from torch import fx, nn
from torch.nn import functional as F


def _prod(values) -> int:  # type: ignore[no-untyped-def]
    return math.prod(int(v) for v in values)


def _tensor(value: object) -> torch.Tensor | None:
    return value if isinstance(value, torch.Tensor) else None


def _first_tensor(value: object) -> torch.Tensor | None:
    if isinstance(value, (tuple, list)):
        return _first_tensor(value[0]) if value else None
    return _tensor(value)


def matmul_macs(a: torch.Tensor, out: torch.Tensor) -> int:
    """``a @ b`` (any ``matmul``/``bmm``/``mm`` broadcast): each output element sums
    ``a.shape[-1]`` products."""
    return out.numel() * int(a.shape[-1])


def attention_macs(batch: int, length: int, source: int, dim: int, value_dim: int) -> int:
    """Scores ``q·kᵀ`` (L × S × E) and their weighted sum of values (L × S × Ev), per batch
    element and head (heads split ``dim``, so summing over heads gives the same)."""
    return batch * length * source * (dim + value_dim)


def mha_macs(embed: int, kdim: int, vdim: int, batch: int, length: int, source: int) -> int:
    """``nn.MultiheadAttention``: the q, k, v projections, the attention, the output
    projection."""
    projections = length * embed * embed + source * kdim * embed + source * vdim * embed + length * embed * embed
    return batch * projections + attention_macs(batch, length, source, embed, embed)


def _mha_module(m: nn.MultiheadAttention, args: tuple, kwargs: dict) -> int | None:
    query = _tensor(args[0] if args else kwargs.get("query"))
    key = _tensor(args[1] if len(args) > 1 else kwargs.get("key"))
    if query is None or key is None:
        return None
    if query.dim() == 2:  # unbatched (L, E)
        batch, length, source = 1, query.shape[0], key.shape[0]
    elif m.batch_first:
        batch, length, source = query.shape[0], query.shape[1], key.shape[1]
    else:
        batch, length, source = query.shape[1], query.shape[0], key.shape[0]
    return mha_macs(m.embed_dim, m.kdim, m.vdim, int(batch), int(length), int(source))


def _sequence(x: torch.Tensor, batch_first: bool) -> tuple[int, int]:
    """(batch, steps) of a recurrent layer's input."""
    if x.dim() == 2:
        return 1, int(x.shape[0])
    return (int(x.shape[0]), int(x.shape[1])) if batch_first else (int(x.shape[1]), int(x.shape[0]))


GATES = {nn.LSTM: 4, nn.GRU: 3, nn.RNN: 1}
"""Gate matrices per recurrent cell: each gate multiplies the input and the hidden state."""


def recurrent_macs(m: nn.RNNBase, batch: int, steps: int) -> int:
    """Every layer and direction, every step: ``gates × H × (input + recurrent state)``,
    plus the LSTM's projection of ``h`` when ``proj_size`` is set."""
    gates = next(g for cell, g in GATES.items() if isinstance(m, cell))
    directions = 2 if m.bidirectional else 1
    state = m.proj_size or m.hidden_size
    per_step = 0
    for layer in range(m.num_layers):
        inputs = m.input_size if layer == 0 else state * directions
        per_step += directions * (gates * m.hidden_size * (inputs + state) + m.hidden_size * m.proj_size)
    return batch * steps * per_step


def encoder_layer_macs(m: nn.TransformerEncoderLayer, batch: int, length: int) -> int:
    """Self-attention and the two feed-forward linears of one encoder layer."""
    attn = m.self_attn
    ff = batch * length * 2 * m.linear1.in_features * m.linear1.out_features
    return mha_macs(attn.embed_dim, attn.kdim, attn.vdim, batch, length, length) + ff


def _encoder_layers(m: nn.Module, args: tuple, kwargs: dict) -> int | None:
    layers = [m] if isinstance(m, nn.TransformerEncoderLayer) else list(m.layers)
    src = _tensor(args[0] if args else kwargs.get("src"))
    if src is None or not layers:
        return None
    first = layers[0].self_attn.batch_first
    batch, length = _sequence(src, first)
    return sum(encoder_layer_macs(layer, batch, length) for layer in layers)


def _module_macs(m: nn.Module, args: tuple, kwargs: dict, out: object) -> int | None:
    y = _first_tensor(out)
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) and y is not None:
        return y.numel() * (m.in_channels // m.groups) * _prod(m.kernel_size)
    if isinstance(m, nn.Linear) and y is not None:
        return y.numel() * m.in_features
    if isinstance(m, nn.Bilinear) and y is not None:
        return y.numel() * m.in1_features * m.in2_features
    if isinstance(m, nn.MultiheadAttention):
        return _mha_module(m, args, kwargs)
    if isinstance(m, nn.RNNBase) and isinstance(args[0] if args else None, torch.Tensor):
        return recurrent_macs(m, *_sequence(args[0], m.batch_first))
    if isinstance(m, (nn.TransformerEncoderLayer, nn.TransformerEncoder)):
        return _encoder_layers(m, args, kwargs)
    return None


def _einsum(args: tuple, out: torch.Tensor) -> int | None:
    """Two operands: one multiply-add per point of the loop over every index (the output's
    and the summed ones). Ellipses or more operands: the dispatcher's count of the
    pairwise products torch actually runs."""
    equation, operands = args[0], list(args[1:])
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])
    if not isinstance(equation, str) or "..." in equation or len(operands) != 2:
        return None
    sizes: dict[str, int] = {}
    for letters, t in zip(equation.replace(" ", "").split("->")[0].split(","), operands):
        sizes.update(zip(letters, (int(s) for s in t.shape)))
    return _prod(sizes.values())


def _sdpa(args: tuple, kwargs: dict, out: torch.Tensor) -> int | None:
    q, k, v = (_tensor(args[i] if i < len(args) else kwargs.get(name)) for i, name in enumerate(("query", "key", "value")))
    if q is None or k is None or v is None:
        return None
    return attention_macs(_prod(out.shape[:-2]), int(q.shape[-2]), int(k.shape[-2]), int(q.shape[-1]), int(v.shape[-1]))


def _native_mha(args: tuple, kwargs: dict, out: object) -> int | None:
    query, key, embed = _tensor(args[0]), _tensor(args[1]), int(args[3])
    if query is None or key is None:
        return None
    batch, length, source = int(query.shape[0]), int(query.shape[-2]), int(key.shape[-2])
    return mha_macs(embed, embed, embed, batch if query.dim() == 3 else 1, length, source)


_MATMULS = {torch.matmul, operator.matmul, torch.bmm, torch.mm, torch.mv, torch.dot}
_MATMUL_METHODS = {"matmul", "bmm", "mm", "mv", "dot", "__matmul__"}
_FUNCTIONS: dict[object, Callable[[tuple, dict, torch.Tensor], int | None]] = {
    F.scaled_dot_product_attention: _sdpa,
    torch.einsum: lambda args, kwargs, out: _einsum(args, out),
    F.linear: lambda args, kwargs, out: out.numel() * int(args[1].shape[-1]),
    torch.addmm: lambda args, kwargs, out: matmul_macs(args[1], out),
    torch.baddbmm: lambda args, kwargs, out: matmul_macs(args[1], out),
    torch.addmv: lambda args, kwargs, out: matmul_macs(args[1], out),
    torch.addbmm: lambda args, kwargs, out: args[1].numel() * int(args[2].shape[-1]),  # summed over the batch
    F.bilinear: lambda args, kwargs, out: out.numel() * int(args[2].shape[1]) * int(args[2].shape[2]),
}
if hasattr(torch, "_native_multi_head_attention"):
    _FUNCTIONS[torch._native_multi_head_attention] = _native_mha


def node_macs(node: fx.Node, module: nn.Module | None, args: tuple, kwargs: dict, out: object) -> int | None:
    """Multiply-adds of ``node`` by its formula, or None where no rule applies (the
    dispatcher's count is used then)."""
    if node.op == "call_module" and module is not None:
        return _module_macs(module, args, kwargs, out)
    y = _tensor(out)
    if node.op == "call_function":
        if node.target in _MATMULS and y is not None and isinstance(args[0], torch.Tensor):
            return matmul_macs(args[0], y)
        rule = _FUNCTIONS.get(node.target)
        return rule(args, kwargs, out) if rule is not None else None
    if node.op == "call_method" and node.target in _MATMUL_METHODS and y is not None:
        return matmul_macs(args[0], y)
    return None
