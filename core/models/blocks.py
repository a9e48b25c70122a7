"""Group a traced graph's operator nodes into blocks: the vertices of parawire's DAG.

Only *activations* (tensor values computed from the image) may cross between units, one
tensor per block. Every other node (parameters read with ``get_attr``, sizes, tuples of
``chunk``/``split``, tensors that do not depend on the image) is a *helper*: copied into
every block that reads it, so it never crosses the network.

A block is a set of activation nodes with exactly one node read outside it, its last:
that tensor is what the vertex sends. Starting from one block per activation node:

1. **Element-wise chains** (``merge_elementwise``): a node that does no multiply-adds
   (ReLU, BatchNorm, add, cat, pooling, views) joins the block of its latest input when
   that block's output is read by this node alone; so does any node whose latest input
   block does no multiply-adds (a max-pool then joins the conv after it). A conv → BN →
   ReLU chain becomes one block; an ``add`` of two branches joins the branch computed last.
2. **Minimum size** (``min_flops``, multiply-adds): a smaller block joins its latest input
   block when that block feeds only it, else its successor when it feeds only that one.

Both merges keep the DAG acyclic (joining the *latest* input block, or the *only*
successor, cannot close a cycle: a second path would need a later input or a second
successor) and keep one output per block. A block that has no such neighbour stays
below the minimum: the best the rule can do without sending two tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

from parawire.models.measure import NodeInfo
from parawire.models.trace import Traced
from torch import fx

OUTPUT = -1
"""Stand-in for the model's output among a node's readers."""


@dataclass(frozen=True)
class Grouping:
    """``blocks[i]``: activation nodes of block i, in program order (blocks in
    topological order); ``source``: the node whose value the model returns."""

    blocks: list[list[fx.Node]]
    source: fx.Node


def activation_inputs(graph: fx.Graph, info: dict[fx.Node, NodeInfo]) -> dict[fx.Node, set[fx.Node]]:
    """For every node, the activations (or the placeholder) it reads, through helpers."""
    reads: dict[fx.Node, set[fx.Node]] = {}
    for n in graph.nodes:
        found: set[fx.Node] = set()
        for a in n.all_input_nodes:
            if a.op == "placeholder" or info[a].activation:
                found.add(a)
            else:
                found |= reads[a]
        reads[n] = found
    return reads


class _Groups:
    """Union of node groups; a group is named by its first node's position."""

    def __init__(self) -> None:
        self.members: dict[int, list[fx.Node]] = {}
        self.of: dict[fx.Node, int] = {}
        self.flops: dict[int, int] = {}
        self.export: dict[int, int] = {}  # group → position of its output node

    def add(self, node: fx.Node, pos: int, macs: int) -> int:
        self.members[pos] = [node]
        self.of[node] = pos
        self.flops[pos] = macs
        self.export[pos] = pos
        return pos

    def merge(self, keep: int, gone: int) -> None:
        for n in self.members[gone]:
            self.of[n] = keep
        self.members[keep] += self.members.pop(gone)
        self.flops[keep] += self.flops.pop(gone)
        self.export[keep] = max(self.export[keep], self.export.pop(gone))


def group(gm: Traced, info: dict[fx.Node, NodeInfo], merge_elementwise: bool = True,
          min_flops: int = 0) -> Grouping:
    """Blocks of ``gm`` (see the module docstring)."""
    graph = gm.graph
    reads = activation_inputs(graph, info)
    out_node = next(n for n in graph.nodes if n.op == "output")
    readers: dict[fx.Node, set] = {}
    for n in graph.nodes:
        if n.op == "output" or info.get(n) is not None and info[n].activation:
            for a in reads[n]:
                readers.setdefault(a, set()).add(OUTPUT if n is out_node else n)
    nodes = list(graph.nodes)
    pos = {n: i for i, n in enumerate(nodes)}
    g = _Groups()
    for n in graph.nodes:
        if n.op == "output" or not info[n].activation:
            continue
        gid = g.add(n, pos[n], info[n].macs)
        inputs = [g.of[a] for a in reads[n] if a in g.of]
        if merge_elementwise and inputs:
            latest = max(inputs, key=g.export.__getitem__)
            cheap = info[n].macs == 0 or g.flops[latest] == 0
            if cheap and readers[nodes[g.export[latest]]] == {n}:
                g.merge(latest, gid)
    if min_flops > 0:
        _merge_small(nodes, g, reads, readers, min_flops)
    order = sorted(g.members, key=g.export.__getitem__)
    return Grouping([sorted(g.members[k], key=pos.__getitem__) for k in order], out_node.args[0])


def _merge_small(nodes: list[fx.Node], g: _Groups, reads, readers, min_flops: int) -> None:
    """Step 2 of the module docstring: backward joins, then forward joins."""

    def pred_groups(gid: int) -> set[int]:
        return {g.of[a] for n in g.members[gid] for a in reads[n] if a in g.of} - {gid}

    def succ_groups(gid: int) -> set:
        users = readers.get(nodes[g.export[gid]], set())
        return {OUTPUT if u == OUTPUT else g.of[u] for u in users}

    for gid in sorted(g.members, key=g.export.__getitem__):
        while gid in g.members and g.flops[gid] < min_flops:
            preds = pred_groups(gid)
            if not preds:
                break
            latest = max(preds, key=g.export.__getitem__)
            if succ_groups(latest) != {gid}:
                break
            g.merge(latest, gid)
            gid = latest
    for gid in sorted(g.members, key=g.export.__getitem__, reverse=True):
        if gid in g.members and g.flops[gid] < min_flops:
            succs = succ_groups(gid)
            if len(succs) == 1 and OUTPUT not in succs:
                g.merge(succs.pop(), gid)
