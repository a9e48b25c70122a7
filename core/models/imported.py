"""Any traceable ``nn.Module`` as a parawire architecture: DAG, measured costs, blocks.

:func:`import_model` loads the factory, traces it (:mod:`~parawire.models.trace`),
measures every node on a sample input (:mod:`~parawire.models.measure`), groups nodes
into blocks (:mod:`~parawire.models.blocks`) and builds the same values a generated
architecture has: a :class:`~parawire.graph.dag.Dag` with one input vertex (the image,
no work) and one output vertex (the returned tensor, no work) and per-vertex
:class:`~parawire.network.cost.Costs`. Hypergraph, partitioners, scores, latency model and plans
then apply unchanged.

Costs, measured rather than derived: ``flops`` = multiply-accumulates the block runs
(FlopCounterMode / 2, helpers copied into the block included); ``params`` = elements
of the parameters its modules and attributes use, each parameter counted once, in the
first block (topological order) that uses it, so a module called from two blocks (shared
weights) adds its parameters once and the sum equals ``sum(p.numel())``;
``out_bytes`` = bytes of the block's output tensor for one image (the image's for the
input vertex).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

import networkx as nx
import numpy as np
import torch
from parawire.errors import ParawireError, SpecError, describe_validation_error
from parawire.graph.dag import Dag
from parawire.graph.spec import check_input_shape
from parawire.models.blocks import activation_inputs, group
from parawire.models.factory import build_model
from parawire.models.measure import probe
from parawire.models.packing import Packing
from parawire.models.subgraph import BlockModule, block_modules
from parawire.models.trace import Traced, functionalize, trace
from parawire.network.cost import FLOAT32_BYTES, Costs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from torch import fx


class ModelSpec(BaseModel):
    """What identifies an imported model: its factory, image shape and block granularity."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    factory: str = Field(description="FILE.py:FACTORY or package.module:FACTORY")
    input_shape: tuple[int, int, int] = Field((3, 32, 32), description="(C, H, W) of one image")
    merge_elementwise: bool = Field(True, description="merge chains of element-wise ops into their producer")
    min_flops: int = Field(0, ge=0, description="merge blocks below this many multiply-adds")
    seed: int = Field(0, ge=0, lt=2**63, description="sample input and partitioner seed")

    @field_validator("input_shape")
    @classmethod
    def _image_sides(cls, v: tuple[int, int, int]) -> tuple[int, int, int]:
        return check_input_shape(v)

    @classmethod
    def parse(cls, data: dict, source: str = "model spec") -> ModelSpec:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(describe_validation_error(exc, prefix=source)) from None


def sample_input(spec: ModelSpec) -> torch.Tensor:
    """The fixed image (batch of one) costs and checks are measured on."""
    return torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(spec.seed))


def traced(model: torch.nn.Module, spec: ModelSpec) -> Traced:
    """The model traced, in-place operations rewritten, with one image input."""
    gm = functionalize(trace(model, spec.factory))
    inputs = [n.name for n in gm.graph.nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise ParawireError(
            f"model {spec.factory}: forward takes {len(inputs)} inputs ({', '.join(inputs)});"
            " parawire feeds one image tensor: wrap it in a module whose forward takes one"
        )
    return gm


def _name(target: object) -> str:
    """A target as text that is the same in every process (no object addresses)."""
    if isinstance(target, str):
        return target
    return f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', type(target).__name__)}"


def graph_digest(gm: Traced) -> str:
    """Fingerprint of the traced program; a worker that traces different code differs.

    Every node's opcode, name, target and arguments (nodes appear by name). Cheaper than
    hashing fx's generated Python, which costs 0.5 s on a 4,000-node graph.
    """
    lines = (f"{n.op} {n.name} {_name(n.target)} {n.args!r} {n.kwargs!r}" for n in gm.graph.nodes)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def state_names(model: torch.nn.Module) -> dict[int, str]:
    """id(tensor) → its first name in ``model.state_dict()`` (tied weights: one name).

    Only what ``load_state_dict`` accepts: parameters and *persistent* buffers. A
    non-persistent buffer (Hugging Face ``position_ids``, rotary caches, anchors) or a
    plain tensor attribute is not state; it travels as an attribute (:data:`ATTRIBUTE`)."""
    names: dict[int, str] = {}
    for name, t in model.state_dict(keep_vars=True).items():
        if isinstance(t, torch.Tensor):
            names.setdefault(id(t), name)
    return names


ATTRIBUTE = "@"
"""Prefix of a unit's tensors that are not in the model's ``state_dict`` (non-persistent
buffers, plain tensor attributes, fx's tensor constants): named by their path in the
traced graph, set on the worker's trace after its digest matched."""


def _attribute(gm: Traced, path: str) -> torch.Tensor | None:
    t = gm
    for part in path.split("."):
        t = getattr(t, part, None)
    return t if isinstance(t, torch.Tensor) else None


def _used_tensors(gm: Traced, nodes: Iterable[fx.Node], state: dict[int, str]) -> dict[str, torch.Tensor]:
    """Tensors the nodes' modules and attributes hold, by state name or ``@path``."""
    found: dict[str, torch.Tensor] = {}
    for n in nodes:
        if n.op == "call_module":
            named = gm.get_submodule(n.target).named_parameters(prefix=n.target, remove_duplicate=False)
            buffers = gm.get_submodule(n.target).named_buffers(prefix=n.target, remove_duplicate=False)
            for path, t in [*named, *buffers]:
                found[state.get(id(t), ATTRIBUTE + path)] = t
        elif n.op == "get_attr":
            t = _attribute(gm, n.target)
            if t is not None:
                found[state.get(id(t), ATTRIBUTE + n.target)] = t
    return found


def set_attributes(gm: Traced, tensors: dict[str, torch.Tensor], factory: str) -> None:
    """Put the received ``@path`` tensors into a worker's trace (see :data:`ATTRIBUTE`)."""
    for key, t in tensors.items():
        path = key.removeprefix(ATTRIBUTE)
        parent, _, name = path.rpartition(".")
        owner = gm.get_submodule(parent) if parent else gm
        if _attribute(gm, path) is None:
            raise ParawireError(f"deployment: {factory} here has no tensor attribute {path!r}; deploy the same code")
        setattr(owner, name, t)


def _helpers(members: list[fx.Node], activation: set[fx.Node]) -> list[fx.Node]:
    """Non-activation nodes a block copies in (read by its members, through helpers)."""
    seen: dict[fx.Node, None] = {}
    stack = [a for n in members for a in n.all_input_nodes]
    while stack:
        a = stack.pop()
        if a in seen or a in activation or a.op == "placeholder":
            continue
        seen[a] = None
        stack.extend(a.all_input_nodes)
    return list(seen)


@dataclass(frozen=True, eq=False)
class ImportedModel:
    """A traced model as an architecture (``dag``, ``costs``) plus what runs it."""

    spec: ModelSpec
    model: torch.nn.Module
    traced: Traced
    dag: Dag
    costs: Costs
    assignment: dict[str, int]
    digest: str
    packed: dict[str, Packing]  # tuple-valued activations sent packed (node name → how)
    _tensors: dict[int, dict[str, torch.Tensor]] = field(repr=False)  # vertex → tensors it uses, by name

    def blocks(self, vertices: Iterable[int] | None = None) -> dict[int, BlockModule]:
        """Runnable blocks (all of them by default), each taking ``dag.preds[v]``'s outputs."""
        vs = list(self.dag.order if vertices is None else vertices)
        blocks, _ = block_modules(self.traced, self.assignment, self.dag.input, self.dag.output, vs, self.packed)
        return blocks

    def whole(self) -> fx.GraphModule:
        """The traced program (in-place operations rewritten) as one module: the same
        computation as the blocks, in one piece; what one ONNX Runtime session of the
        whole model exports (the user's module may mutate views, which the exporter refuses)."""
        graph = fx.Graph()
        graph.output(graph.graph_copy(self.traced.graph, {}))
        return fx.GraphModule(self.traced, graph, "Whole")

    @cached_property
    def tiles(self):  # type: ignore[no-untyped-def]
        """The tile arithmetic of this trace (:class:`~parawire.models.tiling.ModelTiles`),
        on the sample image's shapes."""
        from parawire.models.tiling import ModelTiles, node_shapes

        return ModelTiles(self.traced, self.assignment, self.dag, node_shapes(self.traced, sample_input(self.spec)))

    def tile_grid(self, rows: int, cols: int, threshold: int, depth: int | None = None):  # type: ignore[no-untyped-def]
        """The :class:`~parawire.network.halo.TileGrid` of a ``rows × cols`` tiling at ``threshold`` rows."""
        return self.tiles.grid(rows, cols, threshold, depth)

    def tile_thresholds(self) -> list[int]:
        """Map heights the tiled prefix can end at, largest first (none: nothing tiles)."""
        return self.tiles.thresholds()

    @cached_property
    def out_shapes(self) -> np.ndarray:
        """(C, H, W) of every vertex's output; a tensor that is not a map counts as (n, 1, 1)."""
        tiles = self.tiles
        source = next(n for n in self.traced.graph.nodes if n.op == "output").args[0]
        out = np.ones((len(self.costs.out_bytes), 3), dtype=np.int64)
        for v in self.dag.order:
            node = source if v == self.dag.output else tiles.export.get(v)
            shape = tiles.shapes.get(node) if node is not None else None
            if shape is not None and len(shape) == 4:
                out[v] = shape[1:]
            else:
                out[v, 0] = int(self.costs.out_bytes[v]) // FLOAT32_BYTES
        return out

    def state_for(self, vertices: Iterable[int]) -> dict[str, torch.Tensor]:
        """The tensors ``vertices`` use: parameters and persistent buffers by their
        ``state_dict`` names, every other tensor (non-persistent buffers, plain tensor
        attributes, fx constants) as ``@path`` in the trace (:data:`ATTRIBUTE`). All
        travel, so a factory that draws any of them at random still gives these values."""
        return {name: t for v in vertices for name, t in self._tensors.get(v, {}).items()}


def _check_dtype(model: torch.nn.Module, x: torch.Tensor, spec: ModelSpec) -> None:
    """Parawire feeds float32 images; a model of other floating weights (``.double()``,
    ``.half()``) failed with ``forward fails … check --input-shape``, which named the
    wrong option."""
    other = next((p.dtype for p in model.parameters() if p.is_floating_point() and p.dtype != x.dtype), None)
    if other is not None:
        raise ParawireError(f"model {spec.factory}: its weights are {other}; parawire feeds {x.dtype} images:"
                            f" return the model in {x.dtype} (model.float())")


def import_model(spec: ModelSpec | dict, model: torch.nn.Module | None = None) -> ImportedModel:
    """Trace, measure and group ``spec.factory``'s module (or ``model``, already built)."""
    if isinstance(spec, dict):
        spec = ModelSpec.parse(spec)
    model = build_model(spec.factory, spec.input_shape) if model is None else model.eval()
    gm = traced(model, spec)
    try:
        x = sample_input(spec)
    except (RuntimeError, MemoryError):  # torch's allocator raises RuntimeError
        size = FLOAT32_BYTES * math.prod(spec.input_shape)
        raise ParawireError(f"model {spec.factory}: its {spec.input_shape} float32 input ({size:,} bytes) does not"
                            " fit in this machine's memory; check --input-shape") from None
    _check_dtype(model, x, spec)
    # no_grad, not inference_mode: a lazy module (nn.LazyConv2d) creates its parameters in
    # this first call, and inference tensors would make the ONNX exporter refuse them
    with torch.no_grad():
        try:
            expected = model(x.clone())
        except Exception as exc:
            raise ParawireError(
                f"model {spec.factory}: forward fails on a {tuple(x.shape)} input"
                f" ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); check --input-shape"
            ) from None
    info, got = probe(gm, x.clone())
    if not isinstance(expected, torch.Tensor):
        raise ParawireError(
            f"model {spec.factory}: forward returns {type(expected).__name__}; parawire runs models returning one tensor"
        )
    if expected.dtype != x.dtype or expected.dim() == 0 or expected.shape[0] != x.shape[0]:
        # what the coordinator accepts as a result; it refused any other only after deployment
        raise ParawireError(
            f"model {spec.factory}: forward returns a {expected.dtype} tensor of shape {tuple(expected.shape)};"
            f" parawire's result is a {x.dtype} tensor with the batch first, ({x.shape[0]}, …):"
            " return that (the scores before argmax, .float(), unsqueeze(0))"
        )
    same = got.shape == expected.shape and torch.allclose(got, expected, rtol=1e-5, atol=1e-5, equal_nan=True)
    if not same:
        diff = float((got - expected).abs().max()) if got.shape == expected.shape else float("inf")
        raise ParawireError(
            f"model {spec.factory}: the traced graph computes other values than forward (max |diff| {diff:.3g});"
            " an augmented assignment (x += …) or an in-place write through a view on a tensor read again?"
            " write that operation out of place"
        )
    grouping = group(gm, info, spec.merge_elementwise, spec.min_flops)
    n = len(grouping.blocks)
    source, sink = n, n + 1
    assignment = {node.name: v for v, nodes in enumerate(grouping.blocks) for node in nodes}
    vertex = {node: v for v, nodes in enumerate(grouping.blocks) for node in nodes}
    reads = activation_inputs(gm.graph, info)
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_node(source, role="input")
    graph.add_node(sink, role="output")
    activation = set(vertex)
    flops = np.zeros(n + 2, dtype=np.int64)
    params = np.zeros(n + 2, dtype=np.int64)
    out_bytes = np.zeros(n + 2, dtype=np.int64)
    counted: set[int] = set()
    state = state_names(model)
    tensors: dict[int, dict[str, torch.Tensor]] = {}
    for v, nodes in enumerate(grouping.blocks):
        for node in nodes:
            graph.add_edges_from((vertex.get(a, source), v) for a in reads[node] if vertex.get(a) != v)
        helpers = _helpers(nodes, activation)
        flops[v] = sum(info[m].macs for m in [*nodes, *helpers])
        used = _used_tensors(gm, [*nodes, *helpers], state)
        tensors[v] = used
        fresh = {id(t): t for t in used.values() if isinstance(t, torch.nn.Parameter) and id(t) not in counted}
        params[v] = sum(t.numel() for t in fresh.values())
        counted |= {id(t) for t in used.values()}
        out_bytes[v] = info[nodes[-1]].out_bytes
    out = grouping.source
    if out not in vertex and out.op != "placeholder":
        # a helper: no vertex computes it, and the output vertex would pass the image on
        raise ParawireError(
            f"model {spec.factory}: forward returns a tensor that does not depend on its input"
            " (a parameter or constant); parawire distributes what is computed from the image:"
            " return a tensor computed from forward's input"
        )
    graph.add_edge(vertex.get(out, source), sink)
    out_bytes[source] = x.numel() * x.element_size()
    out_bytes[sink] = expected.numel() * expected.element_size()
    return ImportedModel(
        spec=spec, model=model, traced=gm, dag=Dag(graph, source, sink),
        costs=Costs(flops=flops, params=params, out_bytes=out_bytes),
        assignment=assignment, digest=graph_digest(gm), _tensors=tensors,
        packed={n.name: info[n].packing for n in activation if info[n].packing is not None},
    )
