"""The torch module of an architecture: one block per DAG vertex, graph-based forward.

Built *from* a :class:`parawire.network.architecture.Architecture`: shapes and scaling blocks
are read from its layout, never re-derived, so the analytical costs and the module
cannot drift apart (tests check ``sum(p.numel())`` and FLOPs against them).

Blocks (paper Fig. 4):

* stem (input vertex): 3×3 conv (stride from the layout, no bias) → BatchNorm;
* conv vertex: aggregation → ReLU → depthwise 3×3 (stride 2 when staged) → pointwise
  1×1 → BatchNorm;
* output vertex: aggregation → global average pool → linear.

Aggregation first passes each input that needs it through its scaling block (max-pool
to the smallest spatial size, 1×1 conv to the largest channel count), then either
applies a sigmoid to every input and sums them with learnable weights
(``"sigmoid-inputs"``, the paper's wording) or sums the raw inputs weighted by
sigmoid(weights) (``"sigmoid-weights"``, RandWire, our default because the paper's
variant stalls training in deep graphs: see docs/network.md).

Weights: every block is created on the meta device and then initialised from its own
``torch.Generator`` seeded with ``derived_seed(spec.seed, "weights", v)``. A vertex's
weights therefore depend only on (seed, v): the sub-network of any vertex subset has
bit-identical weights to the same vertices of the whole network, so distributed
workers can rebuild their part from the spec alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from parawire.errors import ParawireError
from parawire.graph.seeds import derived_seed
from parawire.network.architecture import Architecture
from parawire.network.shapes import Layout, Scaling
from torch import nn


class ScalingBlock(nn.Module):
    """Max-pool and/or bias-free 1×1 conv that brings one input to the vertex's shape."""

    def __init__(self, scaling: Scaling):
        super().__init__()
        self.pool = nn.AdaptiveMaxPool2d(scaling.pool_to) if scaling.pool_to else nn.Identity()
        if scaling.channels:
            self.conv = nn.Conv2d(*scaling.channels, kernel_size=1, bias=False)
        else:
            self.conv = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))


class Aggregation(nn.Module):
    """Scale every input to one shape, then a learnable weighted sum (one weight per edge)."""

    def __init__(self, preds: tuple[int, ...], scaling: tuple[Scaling, ...], mode: str):
        super().__init__()
        self.mode = mode
        by_pred = {s.pred: s for s in scaling}
        # ModuleDict keys are the input positions; inputs without a block pass through.
        self.scale = nn.ModuleDict(
            {str(i): ScalingBlock(by_pred[p]) for i, p in enumerate(preds) if p in by_pred}
        )
        self.weight = nn.Parameter(torch.empty(len(preds)))

    def reset_parameters(self) -> None:
        # Both modes start as the mean of their (squashed) inputs. For sigmoid-weights
        # that is w = logit(1/k), not RandWire's zeros: 0.5·sum over k inputs grows with
        # k, and the output vertex, which gathers every sink straight into the
        # classifier, then starts with logits large enough to lose the first epoch
        # (loss 10.7 on digits against 1.5). One input keeps sigmoid(0) = 0.5.
        k = self.weight.numel()
        with torch.no_grad():
            if self.mode == "sigmoid-inputs":
                self.weight.fill_(1.0 / k)
            else:
                self.weight.fill_(math.log(1.0 / (k - 1)) if k > 1 else 0.0)

    def scaling_steps(self) -> dict[int, nn.Module]:
        """Input position → its scaling block, for inputs that need one.

        The executor runs these as soon as each input arrives (see
        :func:`parawire.executor.worker.staged`) and then calls the block with
        ``prescaled=True``; the result is bit-identical to scaling inside ``forward``.
        """
        return {int(i): block for i, block in self.scale.items()}

    def forward(self, inputs: list[torch.Tensor], prescaled: bool = False) -> torch.Tensor:
        scaled = inputs if prescaled else [
            self.scale[str(i)](x) if str(i) in self.scale else x for i, x in enumerate(inputs)
        ]
        if self.mode == "sigmoid-inputs":
            terms, weights = [torch.sigmoid(x) for x in scaled], self.weight
        else:
            terms, weights = scaled, torch.sigmoid(self.weight)
        out = terms[0] * weights[0]
        for i in range(1, len(terms)):
            out = out + terms[i] * weights[i]
        return out


class StemBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return self.bn(self.conv(inputs[0]))


class ConvBlock(nn.Module):
    """Aggregation → ReLU → depthwise 3×3 → pointwise 1×1 → BatchNorm (Fig. 4)."""

    def __init__(self, aggregate: Aggregation, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.aggregate = aggregate
        self.depthwise = nn.Conv2d(
            c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False
        )
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, inputs: list[torch.Tensor], prescaled: bool = False) -> torch.Tensor:
        x = torch.relu(self.aggregate(inputs, prescaled))
        return self.bn(self.pointwise(self.depthwise(x)))


class OutputBlock(nn.Module):
    """Aggregation → global average pooling → linear classifier."""

    def __init__(self, aggregate: Aggregation, c_in: int, classes: int):
        super().__init__()
        self.aggregate = aggregate
        self.fc = nn.Linear(c_in, classes)

    def forward(self, inputs: list[torch.Tensor], prescaled: bool = False) -> torch.Tensor:
        return self.fc(self.aggregate(inputs, prescaled).mean(dim=(2, 3)))


def make_block(layout: Layout, v: int, aggregation: str) -> nn.Module:
    """The (uninitialised) block of vertex v, shaped by the layout."""
    dag = layout.dag
    c_in = int(layout.in_shape[v][0])
    c_out = int(layout.out_shape[v][0])
    if v == dag.input:
        return StemBlock(c_in, c_out, layout.stem_stride)
    aggregate = Aggregation(dag.preds[v], layout.scaling.get(v, ()), aggregation)
    if v == dag.output:
        return OutputBlock(aggregate, c_in, layout.classes)
    return ConvBlock(aggregate, c_in, c_out, stride=2 if layout.staged[v] else 1)


def init_block(block: nn.Module, generator: torch.Generator) -> None:
    """Initialise every parameter and buffer of a block from one generator.

    Modules are visited in registration order, which :func:`make_block` fixes, so the
    same (seed, vertex) always gives the same tensors. Convs: Kaiming-normal (fan_out,
    ReLU), as torchvision's ResNet; BN: weight 1, bias 0; linear: PyTorch's uniform
    ±1/sqrt(fan_in) for weight and bias.
    """
    for module in block.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(
                module.weight, mode="fan_out", nonlinearity="relu", generator=generator
            )
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
            module.reset_running_stats()
        elif isinstance(module, nn.Linear):
            bound = 1.0 / math.sqrt(module.in_features)
            nn.init.uniform_(module.weight, -bound, bound, generator=generator)
            nn.init.uniform_(module.bias, -bound, bound, generator=generator)
        elif isinstance(module, Aggregation):
            module.reset_parameters()


class ArchitectureNet(nn.Module):
    """The blocks of an architecture (all, or a subset) and the graph-based forward.

    ``blocks[str(v)]`` is vertex v's block, called with its inputs ordered as
    ``arch.dag.preds[v]`` (the stem takes ``[x]``).
    """

    def __init__(self, arch: Architecture, vertices: Iterable[int] | None = None):
        super().__init__()
        self.arch = arch
        dag = arch.dag
        wanted = set(dag.order) if vertices is None else {int(v) for v in vertices}
        unknown = sorted(wanted - set(dag.order))
        if unknown:
            raise ParawireError(
                f"vertices: got {unknown[:5]}; the DAG has vertices 0..{dag.nodes + 1}"
            )
        self.vertices = tuple(v for v in dag.order if v in wanted)
        self.complete = len(self.vertices) == len(dag.order)
        self.blocks = nn.ModuleDict()
        for v in self.vertices:
            with torch.device("meta"):
                block = make_block(arch.layout, v, arch.spec.aggregation)
            block = block.to_empty(device="cpu")
            generator = torch.Generator().manual_seed(derived_seed(arch.spec.seed, "weights", v))
            init_block(block, generator)
            self.blocks[str(v)] = block
        # How many consumers each vertex's output has, to free activations early.
        self._consumers = {v: len(dag.succs[v]) for v in dag.order}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run every vertex in topological order; outputs are dropped after their last use."""
        if not self.complete:
            raise ParawireError(
                "forward: this network holds only a subset of the vertices; call"
                " net.blocks[str(v)](inputs) per vertex, or build it with vertices=None"
            )
        dag = self.arch.dag
        outputs: dict[int, torch.Tensor] = {}
        waiting = dict(self._consumers)
        for v in dag.order:
            preds = dag.preds[v]
            inputs = [outputs[p] for p in preds] if preds else [x]
            outputs[v] = self.blocks[str(v)](inputs)
            for p in preds:
                waiting[p] -= 1
                if waiting[p] == 0:
                    del outputs[p]
        return outputs[dag.output]


def build_network(arch: Architecture, vertices: Iterable[int] | None = None) -> ArchitectureNet:
    """The torch module of ``arch``, or of the given vertex subset only."""
    return ArchitectureNet(arch, vertices)
