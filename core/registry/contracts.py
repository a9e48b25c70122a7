"""What each kind's callable must return, checked on every call.

Each check takes the plugin's output and the context it was called with, and returns
the output in the form parawire uses (an int64 array, a float, …) or a
:class:`Breach` saying in one line what is wrong; :meth:`PluginRecord.invoke
<parawire.registry.records.PluginRecord.invoke>` turns the breach into a
:class:`~parawire.errors.PluginError` naming the plugin and its distribution. Checking
inside the invocation, rather than wherever the output is used next, is what makes a
plugin returning ``None`` one line naming it instead of a traceback three layers down
that blames a built-in.

The checks know the data types (graphs, hypergraphs, partitions) but no plugin
records, so a new kind is one more function here and one ``check`` on its record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
from parawire.score.metrics import warn_if_unbalanced


@dataclass(frozen=True)
class Breach:
    """What an output got wrong, in one line (the plugin's name is added by the caller)."""

    problem: str


def _what(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def graph(output: Any, nodes: int) -> Any:
    """A generator's graph: a networkx (Di)Graph, not a multigraph, on exactly the
    vertices ``0..nodes-1``, without self-loops; a DiGraph must be acyclic."""
    if not isinstance(output, nx.Graph) or output.is_multigraph():
        return Breach(f"returned {_what(output)}; a generator returns a networkx Graph or DiGraph")
    if output.number_of_nodes() != nodes:
        return Breach(f"returned {output.number_of_nodes()} vertices; {nodes} were asked for"
                      f" (labelled 0..{nodes - 1})")
    strangers = [v for v in output.nodes if not (isinstance(v, (int, np.integer)) and 0 <= v < nodes)]
    if strangers:
        return Breach(f"vertex {strangers[0]!r} is not one of 0..{nodes - 1}; label the vertices 0..nodes-1")
    loop = next(nx.selfloop_edges(output), None)
    if loop is not None:
        return Breach(f"edge {loop[0]!r}→{loop[1]!r} is a self-loop; a vertex cannot feed itself")
    if output.is_directed() and not nx.is_directed_acyclic_graph(output):
        cycle = " → ".join(str(u) for u, _ in nx.find_cycle(output))
        return Breach(f"returned a DiGraph with a cycle ({cycle}); return it acyclic, or an undirected Graph")
    return output


def flags(output: Any, length: int) -> Any:
    """Staging flags: a bool array with one entry per DAG vertex."""
    if output is None:
        return Breach(f"returned None; a staging policy returns a bool array of length {length}")
    array = np.asarray(output)
    if array.dtype != np.bool_:
        return Breach(f"returned a {array.dtype} array; a staging policy returns a bool array")
    if array.shape != (length,):
        return Breach(f"returned {array.shape[0] if array.ndim == 1 else array.shape} flags;"
                      f" expected one per DAG vertex ({length}: dag.nodes + 2)")
    return array


def partition(output: Any, hypergraph: Any, k: int, eps: float, who: str) -> Any:
    """A partition: one integer unit ``0..k-1`` per hypergraph vertex, every unit used
    when there are at least k vertices; an :class:`~parawire.score.metrics.ImbalanceWarning`
    naming ``who`` when a part is heavier than the balance limit."""
    n = hypergraph.num_vertices
    if output is None:
        return Breach(f"returned None; a partitioner returns one unit (0..{k - 1}) per vertex")
    parts = np.asarray(output)
    if parts.dtype.kind not in "iu":
        return Breach(f"returned a {parts.dtype} array; units are integers 0..{k - 1}")
    if parts.shape != (n,):
        return Breach(f"returned {parts.shape[0] if parts.ndim == 1 else parts.shape} units;"
                      f" expected one per hypergraph vertex ({n})")
    if n and (parts.min() < 0 or parts.max() >= k):
        bad = int(parts[(parts < 0) | (parts >= k)][0])
        return Breach(f"put a vertex on unit {bad}; units are 0..{k - 1}")
    parts = parts.astype(np.int64)
    if n >= k:
        empty = [u for u in range(k) if not (parts == u).any()]
        if empty:
            return Breach(f"left unit {empty[0]} empty ({k - len(empty)} of {k} used); with {n} vertices"
                          f" ≥ k every unit must get one")
    if n and k > 0:
        warn_if_unbalanced(hypergraph, parts, k, eps, who, attributed=True)
    return parts


def number(output: Any) -> Any:
    """A score: a real number, not NaN. Text and booleans are refused although ``float``
    takes them: ``"1.5"`` or ``True`` is a plugin bug that would otherwise be ranked as
    a score without complaint."""
    if isinstance(output, (str, bytes, bool, np.bool_)):
        return Breach(f"returned {output!r}; a score must be a number")
    try:
        value = float(output)
    except (TypeError, ValueError):
        return Breach(f"returned {output!r}; a score must be a number")
    if math.isnan(value):
        return Breach("returned NaN; a score must be a number (lower is better)")
    return value


def transport(output: Any) -> Any:
    """A transport: an object with ``bind``, ``link`` and ``client`` methods."""
    missing = [m for m in ("bind", "link", "client") if not callable(getattr(output, m, None))]
    if missing:
        return Breach(f"factory returned {_what(output)} without {', '.join(missing)}();"
                      " see parawire.plugin.Transport")
    return output


def codec(output: Any) -> Any:
    """A codec: ``encode``, ``decode`` and ``encoded_bytes`` methods and an ``exact`` flag."""
    missing = [m for m in ("encode", "decode", "encoded_bytes") if not callable(getattr(output, m, None))]
    missing += [] if hasattr(output, "exact") else ["exact"]
    if missing:
        return Breach(f"factory returned {_what(output)} without {', '.join(missing)};"
                      " return an object with encode, decode, encoded_bytes, exact (see parawire.plugin.Codec)")
    return output


def blocks(output: Any, vertices: Any) -> Any:
    """An engine's compiled unit: every vertex asked for, each a callable or a staged
    block (an object with ``steps`` and ``rest``)."""
    if not isinstance(output, Mapping):
        return Breach(f"compile returned {_what(output)}; it returns {{vertex: block}}")
    missing = [v for v in vertices if v not in output]
    if missing:
        return Breach(f"compile returned no block for vertex {missing[0]}"
                      f" ({len(missing)} of {len(list(vertices))} missing); every vertex asked for needs one")
    for v in vertices:
        block = output[v]
        if not (callable(block) or (hasattr(block, "steps") and callable(getattr(block, "rest", None)))):
            return Breach(f"compile returned {_what(block)} for vertex {v}; a block is callable(inputs) -> tensor")
    return output


def shapes(output: Any, net: Any, vertices: Any) -> Any:
    """Every compiled block, run once on zeros of its inputs' shapes, returns a tensor of
    its vertex's shape in ``net``'s architecture (batch 1; the output vertex: the logits).

    Why run them: a block of the wrong shape computes without complaint and fails one or
    two vertices later, on another unit, as a shape mismatch inside torch that names
    neither the engine nor the vertex; once at compile time it is one line naming both.
    A ``net`` that is not parawire's network (no ``arch``) has no shapes to check against."""
    layout = getattr(getattr(net, "arch", None), "layout", None)
    if layout is None:
        return output
    for v in vertices:
        block = output[v]
        got = _run(lambda inputs, block=block: [_staged(block, inputs)], _zeros(net.arch, net.arch.dag.preds[v]))
        if isinstance(got, Breach):
            return Breach(f"compile's block for vertex {v} {got.problem}")
        wrong = _wrong_shape(got[0], net.arch, v)
        if wrong:
            return Breach(f"compile's block for vertex {v} {wrong}")
    return output


def fused_shapes(output: Any, net: Any, segment: Any) -> Any:
    """A fused call, run once on zeros of the segment's inputs, returns one tensor per
    segment output, each of its vertex's shape (see :func:`shapes`)."""
    if getattr(getattr(net, "arch", None), "layout", None) is None:
        return output
    what = f"fuse's call for vertices {list(segment.vertices)}"
    got = _run(lambda inputs: list(output(inputs)), _zeros(net.arch, segment.inputs))
    if isinstance(got, Breach):
        return Breach(f"{what} {got.problem}")
    if len(got) != len(segment.outputs):
        return Breach(f"{what} returned {len(got)} outputs; expected {len(segment.outputs)}"
                      f" (vertices {list(segment.outputs)})")
    for v, tensor in zip(segment.outputs, got):
        wrong = _wrong_shape(tensor, net.arch, v)
        if wrong:
            return Breach(f"{what} {wrong} (vertex {v})")
    return output


def _expected(arch: Any, v: int) -> tuple[int, ...]:
    """Vertex v's output shape at batch 1: ``(1, C, H, W)``, the logits ``(1, classes)``."""
    if v == arch.dag.output:
        return (1, int(arch.layout.classes))
    return (1, *(int(d) for d in arch.layout.out_shape[v]))


def _zeros(arch: Any, takes: Any) -> list:
    """Zeros of the output shape of each vertex in ``takes``, the image for anything else
    (the source); the image alone for a block that takes nothing (the input vertex)."""
    import torch

    image = (1, *(int(d) for d in arch.spec.input_shape))
    return [torch.zeros(_expected(arch, p) if p in arch.dag.preds else image) for p in takes] or [
        torch.zeros(image)]


def _run(call: Any, inputs: list) -> Any:
    """``call(inputs)``, or a Breach saying how it failed."""
    import torch

    try:
        with torch.inference_mode():
            return call(inputs)
    except Exception as exc:  # noqa: BLE001 - a plugin's block: any error is its own
        shown = [tuple(x.shape) for x in inputs]
        first = (str(exc).strip().splitlines() or [""])[0][:300]  # torch's errors run to many lines
        return Breach(f"failed on zeros of its input shapes {shown}: {type(exc).__name__}: {first}")


def _staged(block: Any, inputs: list) -> Any:
    """What the runner computes with a block: a staged one scales each input first."""
    steps = getattr(block, "steps", None)
    if steps is None or callable(block):
        return block(inputs)
    return block.rest([steps[j](x) if j in steps else x for j, x in enumerate(inputs)])


def _wrong_shape(tensor: Any, arch: Any, v: int) -> str:
    """'' if ``tensor`` is a tensor of vertex v's shape, else what is wrong, in words."""
    import torch

    if not isinstance(tensor, torch.Tensor):
        return f"returned {_what(tensor)}; a block returns a torch.Tensor"
    if tuple(tensor.shape) != _expected(arch, v):
        return f"returned shape {tuple(tensor.shape)}; the architecture's is {_expected(arch, v)}"
    return ""


def function(output: Any, call: str) -> Any:
    """What ``whole``, ``fuse``, ``prepare`` and ``module`` return: something to call."""
    if not callable(output):
        return Breach(f"{call} returned {_what(output)}; it returns a callable")
    return output

