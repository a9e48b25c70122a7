"""ONNX graphs of parawire blocks, written node by node with ``onnx.helper``.

Built on the worker from the blocks it already holds (weights rebuilt from the seed or
loaded from the deployer's safetensors), so no opaque model file ever travels and no
exporter sits between the architecture and the graph: each block of
:mod:`parawire.network.nn` maps to a handful of ONNX operators, written here once.

* BatchNorm (eval) is folded into the convolution before it (bias = β − μ·γ/σ), the
  transformation ONNX Runtime's optimiser would make anyway; it changes results by
  float rounding only (≈1e-7 relative).
* The aggregation weights are constants: ``sigmoid(w)`` is computed by torch in float32
  and stored, so the sum matches the eager block's.
* ``AdaptiveMaxPool2d`` has no ONNX operator. When the input size is a multiple of the
  output size it is a plain ``MaxPool`` (kernel = stride = ratio); otherwise (224×224
  inputs reach 7 → 4) it is written as PyTorch defines it, one ``ReduceMax`` per output
  row over rows ``floor(i·H/h) … ceil((i+1)·H/h)``, then the same over columns (a max
  over a rectangle is the max over its rows of the max over its columns).

A :class:`GraphBuilder` collects nodes and initialisers under unique names; the
``add_*`` functions append one block and return the name of its output, so one vertex,
one scaling step, or a whole run of vertices become one graph the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

OPSET = 17


class GraphBuilder:
    """Nodes and initialisers of one graph, each under a fresh name."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, array: np.ndarray, hint: str = "w") -> str:
        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], **attrs) -> str:
        out = self.name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def model(self, inputs: Sequence[tuple[str, Sequence[int]]], outputs: Sequence[str]) -> onnx.ModelProto:
        """The graph from ``inputs`` (name and (C, H, W): float32 NCHW, any batch) to
        ``outputs``.

        Input shapes are declared in full: ONNX Runtime's NCHWc layout pass rewrites an
        operator (max-pool, ReLU, the aggregation's products) only when it knows its
        input's channel count, and one vertex's graph starts right at its inputs.
        Undeclared, the per-vertex graphs ran their element-wise operators several times
        slower than the same operators inside one whole-network graph.
        """
        def info(name: str, shape: Sequence[int] | None):
            dims = None if shape is None else ["N", *(int(d) for d in shape)]
            return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)

        graph = helper.make_graph(
            self.nodes,
            "parawire",
            [info(n, shape) for n, shape in inputs],
            [info(n, None) for n in outputs],
            self.initializers,
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def _array(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float32).cpu().numpy()


def folded(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[np.ndarray, np.ndarray]:
    """Weight and bias of ``bn(conv(x))`` as one convolution (eval-mode BatchNorm)."""
    with torch.no_grad():
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        weight = conv.weight * scale.reshape(-1, 1, 1, 1)
        bias = bn.bias - bn.running_mean * scale
        if conv.bias is not None:
            bias = bias + conv.bias * scale
    return _array(weight), _array(bias)


def add_conv(g: GraphBuilder, x: str, conv: nn.Conv2d, bn: nn.BatchNorm2d | None = None,
             pads: Sequence[int] | None = None) -> str:
    """One ``Conv`` node (BatchNorm folded in when given); ``pads`` (top, left, bottom,
    right) instead of the conv's own, for a tile's box that meets the map's edge on some
    sides only."""
    if bn is not None:
        weight, bias = folded(conv, bn)
        inputs = [x, g.const(weight), g.const(bias, "b")]
    else:
        inputs = [x, g.const(_array(conv.weight))]
        if conv.bias is not None:
            inputs.append(g.const(_array(conv.bias), "b"))
    pad_h, pad_w = conv.padding
    return g.op(
        "Conv", inputs, kernel_shape=list(conv.kernel_size), strides=list(conv.stride),
        pads=list(pads) if pads is not None else [pad_h, pad_w, pad_h, pad_w], group=conv.groups,
    )


def _windows(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive-pooling windows: [floor(i·size/out), ceil((i+1)·size/out))."""
    return [((i * size) // out, math.ceil((i + 1) * size / out)) for i in range(out)]


def add_adaptive_max_pool(g: GraphBuilder, x: str, size: tuple[int, int], out: tuple[int, int]) -> str:
    """``AdaptiveMaxPool2d(out)`` of an input of spatial ``size``."""
    if size[0] % out[0] == 0 and size[1] % out[1] == 0:
        kernel = [size[0] // out[0], size[1] // out[1]]
        return g.op("MaxPool", [x], kernel_shape=kernel, strides=kernel)
    for axis, (n, m) in ((2, (size[0], out[0])), (3, (size[1], out[1]))):
        if n == m:
            continue
        axes = g.const(np.array([axis], dtype=np.int64), "axes")
        parts = []
        for start, end in _windows(n, m):
            piece = g.op("Slice", [x, g.const(np.array([start], np.int64), "s"),
                                   g.const(np.array([end], np.int64), "e"), axes])
            parts.append(g.op("ReduceMax", [piece], axes=[axis], keepdims=1))
        x = g.op("Concat", parts, axis=axis) if len(parts) > 1 else parts[0]
    return x


def add_scaling(g: GraphBuilder, x: str, block: nn.Module, size: tuple[int, int]) -> str:
    """A :class:`~parawire.network.nn.ScalingBlock` (max-pool, then bias-free 1×1 conv) on an
    input of spatial ``size``."""
    if isinstance(block.pool, nn.AdaptiveMaxPool2d):
        target = block.pool.output_size
        target = (target, target) if isinstance(target, int) else tuple(target)
        x = add_adaptive_max_pool(g, x, size, target)
    if isinstance(block.conv, nn.Conv2d):
        x = add_conv(g, x, block.conv)
    return x


def add_aggregation(g: GraphBuilder, inputs: Sequence[str], aggregate: nn.Module,
                    sizes: Sequence[tuple[int, int]], prescaled: bool) -> str:
    """The weighted sum of :class:`~parawire.network.nn.Aggregation` (scaling first unless the
    inputs arrive ``prescaled``)."""
    steps = aggregate.scaling_steps()
    scaled = [
        add_scaling(g, x, steps[i], sizes[i]) if i in steps and not prescaled else x
        for i, x in enumerate(inputs)
    ]
    with torch.no_grad():
        if aggregate.mode == "sigmoid-inputs":
            scaled = [g.op("Sigmoid", [x]) for x in scaled]
            weights = _array(aggregate.weight)
        else:
            weights = _array(torch.sigmoid(aggregate.weight))
    out = None
    for x, w in zip(scaled, weights):
        term = g.op("Mul", [x, g.const(np.array(w, dtype=np.float32), "a")])
        out = term if out is None else g.op("Add", [out, term])
    return out


def add_block(g: GraphBuilder, block: nn.Module, inputs: Sequence[str],
              sizes: Sequence[tuple[int, int]], prescaled: bool = False) -> str:
    """Any block of :mod:`parawire.network.nn` (stem, conv vertex, output vertex)."""
    from parawire.network.nn import ConvBlock, OutputBlock, StemBlock

    if isinstance(block, StemBlock):
        return add_conv(g, inputs[0], block.conv, block.bn)
    x = add_aggregation(g, inputs, block.aggregate, sizes, prescaled)
    if isinstance(block, ConvBlock):
        x = add_conv(g, g.op("Relu", [x]), block.depthwise)
        return add_conv(g, x, block.pointwise, block.bn)
    if isinstance(block, OutputBlock):
        pooled = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
        fc = block.fc
        return g.op("Gemm", [pooled, g.const(_array(fc.weight)), g.const(_array(fc.bias), "b")], transB=1)
    raise TypeError(f"no ONNX form for block {type(block).__name__}")
