"""The ``onnxruntime`` engine: each vertex (and each input-scaling step) one ORT session.

The graphs are written on the worker from the blocks it holds
(:mod:`parawire.engines.onnx_graph`). One session per vertex keeps the executor's
contract, every output sent as soon as it is computed and every input scaled as soon
as it arrives; docs/engines.md measures what that costs against one session for the
whole unit. Tensors cross between torch and ORT as numpy views, without copies.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from parawire.engines.onnx_graph import GraphBuilder, add_block, add_scaling


@functools.cache
def _shared_arena() -> None:
    """Register one CPU memory arena for every session of this process (once).

    Why: a unit runs one session per vertex or per tile stage, one after another, and by
    default each session owns its arena, so every call writes its intermediates and
    layout copies into memory the previous calls left cold. With one arena the next
    session reuses the blocks the last one just freed, still in the core's cache. A
    224-px FB-40 tile's 37 stage calls, in the order of an inference: 41.4 → 30.5 ms of
    CPU; the 1×1 "tile" (the whole network, stage by stage) 106 → 91 ms against 76 ms
    for one session (docs/engines.md)."""
    import onnxruntime as ort

    info = ort.OrtMemoryInfo("Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT)
    ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, -1, -1, -1))


def session_options(threads: int | None, optimization: str = "all", inter_op: int = 1, shared_arena: bool = True):
    """Sequential execution on ``threads`` intra-op threads (``None``: ORT's default);
    ``inter_op`` > 1: ORT's parallel executor with that many inter-op threads instead;
    ``shared_arena``: every session on the process's one arena (:func:`_shared_arena`;
    False, ORT's default of one arena per session, is there for the benchmark that
    measures the difference).

    ORT's telemetry events are switched off here, before any session exists: an inference
    engine inside a worker has no business reporting usage anywhere."""
    import onnxruntime as ort

    ort.disable_telemetry_events()

    levels = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }
    opts = ort.SessionOptions()
    opts.graph_optimization_level = levels[optimization]
    opts.execution_mode = ort.ExecutionMode.ORT_PARALLEL if inter_op > 1 else ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = inter_op
    if threads is not None:
        opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    if shared_arena:
        _shared_arena()
        opts.add_session_config_entry("session.use_env_allocators", "1")
    return opts


class Session:
    """An ORT session called like a torch block: ``session([tensors]) -> tensor``
    (several outputs: a tuple)."""

    def __init__(self, model, threads: int | None, optimization: str = "all", inter_op: int = 1,
                 shared_arena: bool = True) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(
            model.SerializeToString(), session_options(threads, optimization, inter_op, shared_arena),
            providers=["CPUExecutionProvider"],
        )
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.positions = list(range(len(self.inputs)))  # which of the caller's tensors each input is

    def run(self, inputs: Sequence[torch.Tensor]) -> list[np.ndarray]:
        feeds = {name: inputs[i].numpy() for name, i in zip(self.inputs, self.positions)}
        return self.session.run(self.outputs, feeds)

    def all(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Every output, for a fused segment."""
        return [torch.from_numpy(a) for a in self.run(inputs)]

    def __call__(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.from_numpy(self.run(inputs)[0])

    def one(self, x: torch.Tensor) -> torch.Tensor:
        """For a per-input step: one tensor in, one out."""
        return torch.from_numpy(self.run((x,))[0])


def input_shapes(layout, v: int, prescaled: bool = False) -> list[tuple[int, int, int]]:
    """(C, H, W) of each input of ``v`` as its block receives it: the image for the
    stem, the predecessors' outputs, or (``prescaled``) all of them at v's aggregation shape."""
    dag = layout.dag
    if v == dag.input:
        return [tuple(int(s) for s in layout.in_shape[v])]
    if prescaled:
        return [tuple(int(s) for s in layout.in_shape[v])] * len(dag.preds[v])
    return [tuple(int(s) for s in layout.out_shape[p]) for p in dag.preds[v]]


def vertex_session(net, v: int, threads: int | None, prescaled: bool, optimization: str = "all") -> Session:
    block = net.blocks[str(v)]
    layout = net.arch.layout
    shapes = input_shapes(layout, v, prescaled)
    g = GraphBuilder()
    names = [f"in{j}" for j in range(len(shapes))]
    out = add_block(g, block, names, [s[1:] for s in input_shapes(layout, v)], prescaled)
    return Session(g.model(list(zip(names, shapes)), [out]), threads, optimization)


def step_session(step, shape: tuple[int, int, int], threads: int | None, optimization: str = "all") -> Session:
    """One input-scaling step on an input of ``shape`` (C, H, W)."""
    g = GraphBuilder()
    return Session(g.model([("x", shape)], [add_scaling(g, "x", step, tuple(shape[1:]))]), threads, optimization)


def steps_session(net, v: int, positions: Sequence[int], threads: int | None, optimization: str = "all"):
    """One session for the scaling steps of inputs ``positions`` of vertex ``v``:
    ``call([inputs]) -> [prepared]`` in that order."""
    steps = net.blocks[str(v)].aggregate.scaling_steps()
    shapes = input_shapes(net.arch.layout, v)
    g = GraphBuilder()
    feeds = [(f"in{j}", shapes[j]) for j in positions]
    outs = [add_scaling(g, name, steps[j], tuple(shape[1:])) for (name, shape), j in zip(feeds, positions)]
    return Session(g.model(feeds, outs), threads, optimization).all


def compile_ort(net, vertices: Iterable[int], threads: int | None = None, optimization: str = "all"):
    """``{vertex: block}``: one session per vertex, one per input-scaling step."""
    from parawire.executor.runner import StagedBlock

    out = {}
    for v in vertices:
        block = net.blocks[str(v)]
        aggregate = getattr(block, "aggregate", None)
        steps = aggregate.scaling_steps() if aggregate is not None else {}
        if not steps:
            out[v] = vertex_session(net, v, threads, False, optimization)
            continue
        shapes = input_shapes(net.arch.layout, v)
        out[v] = StagedBlock(
            {j: step_session(s, shapes[j], threads, optimization).one for j, s in steps.items()},
            vertex_session(net, v, threads, True, optimization),
        )
    return out


def unit_session(net, vertices: Sequence[int], outputs: Sequence[int], threads: int | None,
                 optimization: str = "all", inter_op: int = 1) -> tuple[Session, list[int]]:
    """One session computing ``vertices`` together (the per-unit baseline the engine is
    measured against): its inputs are the outputs of the vertices outside the set that
    feed it (``-1``: the image), returned in the order the session takes them."""
    dag = net.arch.dag
    layout = net.arch.layout
    inside = set(vertices)
    g = GraphBuilder()
    names: dict[int, str] = {}
    feeds: list[tuple[int, tuple[int, int, int]]] = []
    for v in dag.order:
        if v not in inside:
            continue
        preds = list(dag.preds[v]) or [-1]
        shapes = input_shapes(layout, v)
        for p, shape in zip(preds, shapes):
            if p not in inside and p not in names:
                names[p] = f"from{p}"
                feeds.append((p, shape))
        names[v] = add_block(g, net.blocks[str(v)], [names[p] for p in preds], [s[1:] for s in shapes])
    model = g.model([(names[p], shape) for p, shape in feeds], [names[v] for v in outputs])
    return Session(model, threads, optimization, inter_op), [p for p, _ in feeds]


def fused_session(net, segment, threads: int | None = None, optimization: str = "all"):
    """One session for a :class:`~parawire.executor.segments.Segment`: takes its
    ``inputs`` and returns its ``outputs``, in those orders."""
    from parawire.executor.protocol import SOURCE

    session, feeds = unit_session(net, segment.vertices, segment.outputs, threads, optimization)
    where = {p: k for k, p in enumerate(segment.inputs)}
    order = [where[SOURCE if p == -1 else p] for p in feeds]
    return lambda inputs: session.all([inputs[k] for k in order])
