"""Group a traced graph's operator nodes into blocks: the vertices of parawire's DAG.

Only *activations* (tensor values computed from the image) may cross between units, one
tensor per block. Every other node (parameters read with ``get_attr``, sizes, tuples of
``chunk``/``split``, tensors that do not depend on the image) is a *helper*: copied into
every block that reads it, so it never crosses the network.

A block is a set of activation nodes with exactly one node read outside it, its last:
that tensor is what the vertex sends. Starting from one block per activation node:

1. **Element-wise chains** (``merge_elementwise``): a node that does no multiply-adds
   (ReLU, BatchNorm, add, cat, pooling, views) joins its latest input block when only
   it reads that block and every other input block leads to it (:func:`_join_target`:
   the merge never lengthens the critical path); then any node takes in the input
   blocks that do no multiply-adds and feed only it (a max-pool joins the conv after
   it). A conv → BN → ReLU chain becomes one block; the ``add`` of a residual block with
   an identity shortcut joins its long branch; a projection shortcut's ``add`` and a
   ``cat`` of parallel branches stay apart, so the branches stay parallel.
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
        inputs = {g.of[a] for a in reads[n] if a in g.of}
        if not (merge_elementwise and inputs):
            continue
        target = _join_target(n, inputs, g, nodes, readers) if info[n].macs == 0 else None
        if target is not None:
            g.merge(target, gid)
            gid = target
        for k in inputs - {gid}:  # free input blocks only n reads: n's block takes them in
            if g.flops[k] == 0 and readers[nodes[g.export[k]]] == {n}:
                g.merge(gid, k)
    if min_flops > 0:
        _merge_small(nodes, g, reads, readers, min_flops)
    order = sorted(g.members, key=g.export.__getitem__)
    return Grouping([sorted(g.members[k], key=pos.__getitem__) for k in order], out_node.args[0])


def _join_target(n: fx.Node, inputs: set[int], g: _Groups, nodes: list[fx.Node], readers) -> int | None:  # type: ignore[no-untyped-def]
    """The input block an element-wise node ``n`` joins in step 1, or None.

    The *latest* input block, when ``n`` alone reads it and every other input block
    already leads to it: ``n`` then lies on that block's own path, so the merged block
    starts no later and the longest MAC-weighted path stays as long as it was. Joining
    any other input block would make its work wait for the remaining inputs: a ``cat``
    of four Inception branches that joined its heaviest branch serialised the others
    before it (work ÷ critical path 1.15× instead of 1.45×), and a projection shortcut's
    ``add`` that joined the long branch made that branch wait for the shortcut. Those
    stay blocks of no work of their own, taken in by their reader below when it is
    their only one. (Input blocks that do no multiply-adds and feed only ``n`` are
    taken in afterwards: they have no other successor, so that cannot close a cycle,
    and they add nothing to the MAC-weighted path.)
    """
    latest = max(inputs, key=g.export.__getitem__)
    if readers[nodes[g.export[latest]]] != {n}:
        return None
    others = inputs - {latest}
    return latest if all(_reaches(k, {latest}, g, nodes, readers) for k in others) else None


def _reaches(start: int, targets: set[int], g: _Groups, nodes: list[fx.Node], readers) -> bool:  # type: ignore[no-untyped-def]
    """Whether a path of blocks leads from ``start`` to one of ``targets``. Blocks are
    numbered in a topological order, so the search never passes the last target."""
    last = max(g.export[t] for t in targets)
    stack, seen = [start], {start}
    while stack:
        for u in readers.get(nodes[g.export[stack.pop()]], ()):
            k = g.of.get(u) if u != OUTPUT else None
            if k is None or k in seen or g.export[k] > last:
                continue
            if k in targets:
                return True
            seen.add(k)
            stack.append(k)
    return False


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
