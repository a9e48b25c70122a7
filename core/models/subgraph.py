"""A block's own ``torch.fx`` sub-graph: what a worker runs for one vertex.

From the traced graph and the node → vertex assignment alone (both rebuilt or received
by the worker, never pickled): the block's activation nodes are copied in program
order, every helper they read (parameters, sizes, ``chunk`` tuples, constants) is copied
in front of its first reader, and every activation of another vertex becomes one input,
in the order of the vertex ids (``dag.preds[v]``, the order the runner passes inputs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from parawire.errors import ParawireError
from parawire.models.packing import Packing, pack, unpack
from parawire.models.trace import Traced
from torch import fx


class BlockModule:
    """Calls a block's GraphModule with the runner's list of inputs."""

    def __init__(self, module: fx.GraphModule | None) -> None:
        self.module = module  # None: identity (the input and output vertices)

    def __call__(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return inputs[0] if self.module is None else self.module(*inputs)


def members_by_vertex(gm: Traced, assignment: Mapping[str, int]) -> dict[int, list[fx.Node]]:
    """Activation nodes of every computation vertex, in program order."""
    members: dict[int, list[fx.Node]] = {}
    for n in gm.graph.nodes:
        if n.name in assignment:
            members.setdefault(assignment[n.name], []).append(n)
    return members


def _vertex_of(node: fx.Node, assignment: Mapping[str, int], input_vertex: int) -> int | None:
    if node.op == "placeholder":
        return input_vertex
    return assignment.get(node.name)


def external_reads(members: list[fx.Node], assignment: Mapping[str, int], input_vertex: int) -> dict[int, fx.Node]:
    """Vertex → the node of that vertex this block reads (through helpers)."""
    mine = assignment[members[0].name]
    found: dict[int, fx.Node] = {}
    seen: set[fx.Node] = set()
    stack = [a for n in members for a in n.all_input_nodes]
    while stack:
        a = stack.pop()
        if a in seen:
            continue
        seen.add(a)
        owner = _vertex_of(a, assignment, input_vertex)
        if owner is None:  # a helper: look through it
            stack.extend(a.all_input_nodes)
        elif owner != mine:
            if found.setdefault(owner, a) is not a:
                raise ParawireError(f"vertex {mine} reads two tensors of vertex {owner}; the assignment is invalid")
    return found


def region_graph_module(gm: Traced, members: list[fx.Node], inputs: list[tuple[int, fx.Node]],
                        outputs: list[fx.Node], packed: Mapping[str, Packing], name: str) -> fx.GraphModule:
    """A GraphModule computing ``members`` (activation nodes in program order, of one
    vertex or of a run of them) from ``inputs`` (vertex id and the node whose value
    arrives, in call order) and returning the values of ``outputs`` (one: the tensor;
    several: a tuple). Helpers are copied in front of their first reader; a tuple in
    ``packed`` (node name → :class:`~parawire.models.packing.Packing`) arrives and
    leaves packed into one tensor."""
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for p, node in inputs:
        env[node] = graph.placeholder(f"vertex_{p}" if p >= 0 else "image")
        if node.name in packed:
            how = packed[node.name]
            env[node] = graph.call_function(unpack, (env[node], how.spec, how.shapes))
    mine = set(members)

    def lookup(a: fx.Node) -> fx.Node:
        if a not in env:  # a helper, copied before its first reader
            if a.op == "placeholder" or a in mine:
                raise ParawireError(f"{name} reads {a.name} before it is computed or received")
            env[a] = graph.node_copy(a, lookup)
        return env[a]

    for n in members:
        env[n] = graph.node_copy(n, lookup)
    out = [graph.call_function(pack, (env[n],)) if n.name in packed else lookup(n) for n in outputs]
    graph.output(out[0] if len(out) == 1 else tuple(out))
    return fx.GraphModule(gm, graph, name)


def block_graph_module(gm: Traced, members: list[fx.Node], assignment: Mapping[str, int],
                       input_vertex: int, exports: Mapping[int, fx.Node],
                       packed: Mapping[str, Packing] = {}) -> tuple[fx.GraphModule, list[int]]:
    """The GraphModule of one block and its input vertices in call order (``dag.preds``)."""
    reads = external_reads(members, assignment, input_vertex)
    for owner, node in reads.items():
        if owner != input_vertex and exports[owner] is not node:
            raise ParawireError(f"vertex {assignment[members[0].name]} reads a tensor vertex {owner} does not send")
    preds = sorted(reads)
    name = f"Block{assignment[members[0].name]}"
    return region_graph_module(gm, members, [(p, reads[p]) for p in preds], [members[-1]], packed, name), preds


def block_modules(gm: Traced, assignment: Mapping[str, int], input_vertex: int, output_vertex: int,
                  vertices: Iterable[int], packed: Mapping[str, Packing] = {},
                  ) -> tuple[dict[int, BlockModule], dict[int, list[int]]]:
    """Runnable blocks of ``vertices`` and each one's input vertices (``dag.preds`` order)."""
    members = members_by_vertex(gm, assignment)
    exports = {v: nodes[-1] for v, nodes in members.items()}
    blocks: dict[int, BlockModule] = {}
    preds: dict[int, list[int]] = {}
    for v in vertices:
        if v == input_vertex:
            blocks[v], preds[v] = BlockModule(None), []
        elif v == output_vertex:
            source = next(n for n in gm.graph.nodes if n.op == "output").args[0]
            blocks[v], preds[v] = BlockModule(None), [_vertex_of(source, assignment, input_vertex)]
        elif v in members:
            module, preds[v] = block_graph_module(gm, members[v], assignment, input_vertex, exports, packed)
            blocks[v] = BlockModule(module)
        else:
            raise ParawireError(f"vertex {v} is not a block of this model")
    return blocks, preds
