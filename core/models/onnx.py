"""A unit's blocks of an imported model on ONNX Runtime, as for generated networks.

The worker cuts its vertices into the runs :func:`parawire.executor.segments.segments`
allows (each run fused delays no message), builds each run's fx sub-graph
(:func:`~parawire.models.subgraph.region_graph_module`) and exports it to ONNX
(:func:`parawire.engines.fx_onnx.export_session`): one session per run, called once.
The exporter needs example inputs; the worker computes them by running its own trace on
the sample image once. Where a run does not export (an operator with no ONNX form),
each of its vertices is tried alone, and a vertex that still fails keeps its torch
block: one log line per vertex says so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import torch
from parawire.executor.plan import UnitPlan
from parawire.executor.protocol import SOURCE
from parawire.executor.segments import Segment, segments
from parawire.models.packing import Packing, pack
from parawire.models.subgraph import BlockModule, members_by_vertex, region_graph_module
from parawire.models.trace import TRACING, Traced, node_values
from torch import fx

log = logging.getLogger("parawire.worker")


def vertex_values(gm: Traced, x: torch.Tensor, assignment: Mapping[str, int], input_vertex: int,
                  output_vertex: int, packed: Mapping[str, Packing]) -> tuple[dict[int, torch.Tensor], dict]:
    """Every vertex's sent tensor for image ``x`` (packed where packed) and the node each
    vertex's value is, from one run of the whole trace."""
    env = node_values(gm, x)
    members = members_by_vertex(gm, assignment)
    placeholder = next(n for n in gm.graph.nodes if n.op == "placeholder")
    source = next(n for n in gm.graph.nodes if n.op == "output").args[0]
    node_of = {SOURCE: placeholder, input_vertex: placeholder, output_vertex: source}
    node_of.update({v: nodes[-1] for v, nodes in members.items()})
    values = {}
    for v, node in node_of.items():
        value = env[node]
        values[v] = pack(value) if node.name in packed else value
    return values, node_of


def _session(module: torch.nn.Module, inputs: list[torch.Tensor], threads: int, what: str):  # type: ignore[no-untyped-def]
    from parawire.engines.fx_onnx import export_session

    try:
        return export_session(module, inputs, threads)
    except Exception as exc:  # the exporter and ORT raise many types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("%s: no ONNX form (%s: %s); it runs on torch", what, type(exc).__name__, reason[:200])
        return None


def segment_module(gm: Traced, run: Segment, members: Mapping[int, list[fx.Node]], node_of: Mapping[int, fx.Node],
                   packed: Mapping[str, Packing]) -> fx.GraphModule:
    """One fx module computing ``run``'s vertices: takes its inputs, returns its outputs."""
    position = {n: i for i, n in enumerate(gm.graph.nodes)}
    nodes = sorted((n for v in run.vertices for n in members.get(v, ())), key=position.__getitem__)
    return region_graph_module(gm, nodes, [(p, node_of[p]) for p in run.inputs],
                               [node_of[v] for v in run.outputs], packed, f"Segment{run.vertices[0]}")


def ort_module(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...]):  # type: ignore[no-untyped-def]
    """``module`` (a tile stack) as one ORT session returning all its outputs, or in
    torch where it does not export (one log line)."""
    with TRACING:
        session = _session(module, list(inputs), torch.get_num_threads(), type(module).__name__)
    return (lambda xs: list(module(*xs))) if session is None else session.all


def ort_blocks(gm: Traced, unit: UnitPlan, blocks: Mapping[int, BlockModule], assignment: Mapping[str, int],
               input_vertex: int, output_vertex: int, packed: Mapping[str, Packing], x: torch.Tensor) -> dict:
    """The unit's ``blocks`` (torch, :func:`~parawire.models.subgraph.block_modules`) with
    every run that exports replaced by one ORT session (keyed by its
    :class:`~parawire.executor.segments.Segment`, or by the vertex for a run of one)."""
    # The exporter's tracer sees module calls of every thread, and fx patches
    # ``Module.__call__`` while it traces: workers that are threads of one process
    # export one at a time, and compute nothing meanwhile
    with TRACING:
        return _compile(gm, unit, blocks, assignment, input_vertex, output_vertex, packed, x)


def _compile(gm: Traced, unit: UnitPlan, blocks: Mapping[int, BlockModule], assignment: Mapping[str, int],
             input_vertex: int, output_vertex: int, packed: Mapping[str, Packing], x: torch.Tensor) -> dict:
    threads = torch.get_num_threads()
    values, node_of = vertex_values(gm, x, assignment, input_vertex, output_vertex, packed)
    members = members_by_vertex(gm, assignment)
    out: dict = dict(blocks)
    for run in segments(unit, output_vertex):
        work = [v for v in run.vertices if v in members]
        if len(run.vertices) > 1 and work:
            module = segment_module(gm, run, members, node_of, packed)
            session = _session(module, [values[p] for p in run.inputs], threads, f"vertices {list(run.vertices)}")
            if session is not None:
                for v in run.vertices:
                    out.pop(v, None)
                out[run] = session.all
                continue
        for v in work:
            session = _session(blocks[v].module, [values[p] for p in unit.preds[v]], threads, f"vertex {v}")
            if session is not None:
                out[v] = session
    return out
