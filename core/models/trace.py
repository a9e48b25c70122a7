"""Trace a module with ``torch.fx`` and rewrite in-place operations out of place.

Why ``torch.fx.symbolic_trace`` and not ``torch.export``: fx keeps the module hierarchy
(``call_module`` nodes name the submodules, so a module called twice is two nodes on
one set of weights, and a block's parameters are those of the modules it calls), it
runs in milliseconds (export re-traces through the dispatcher and takes seconds on
models of a thousand blocks, against the 5 s budget for trace + score), and its
``GraphModule`` sub-graphs are ordinary modules a worker can run. Its limit is
data-dependent control flow, which export does not handle either without rewriting.

**In-place operations.** fx records ``relu_``, ``ReLU(inplace=True)`` or
``F.relu(x, inplace=True)`` as a node whose *argument* is mutated, while later readers
of that argument still point at the argument's node. Run as one program that is right
by accident of order; split over units it is not (a tensor received from a peer is
shared by every local consumer, in no fixed order). So every in-place node is turned
into its out-of-place twin and every *later* reader of the mutated tensor is pointed at
the new node: exactly the values eager mode computes. What fx cannot see (``x += y``
on a tensor read again later is traced as ``x + y``; an in-place write through a view)
is caught by comparing the traced graph with the module on a sample input.
"""

from __future__ import annotations

import copy
import functools
import inspect
import operator
import threading

import torch
import torch.nn.functional as F
from parawire.errors import ParawireError
from torch import fx

_INPLACE_OPERATORS = {
    operator.iadd: operator.add, operator.isub: operator.sub, operator.imul: operator.mul,
    operator.itruediv: operator.truediv, operator.ifloordiv: operator.floordiv,
    operator.imod: operator.mod, operator.ipow: operator.pow, operator.iand: operator.and_,
    operator.ior: operator.or_, operator.ixor: operator.xor, operator.imatmul: operator.matmul,
}
_NOT_MUTATING_METHODS = {"requires_grad_", "share_memory_"}


TRACING = threading.Lock()
"""fx patches module-level functions while it traces, and torch's ONNX exporter keeps
global state; workers that run as threads of one process (``LocalWorkers(in_threads=True)``)
must not trace or export at the same time."""


def node_values(gm: fx.GraphModule, x: torch.Tensor) -> dict[fx.Node, object]:
    """Every node's value on image ``x``, from one run of the trace (no autograd). The
    caller holds :data:`TRACING` where other threads may trace meanwhile."""
    interpreter = fx.Interpreter(gm, garbage_collect_values=False)
    with torch.no_grad():
        interpreter.run(x)
    return interpreter.env


class _Tracer(fx.Tracer):
    """fx's tracer, remembering which submodule it was inside when tracing failed."""

    def __init__(self) -> None:
        super().__init__()
        self.path: list[str] = []
        self.failed_in: tuple[str, str] | None = None

    def call_module(self, m, forward, args, kwargs):  # type: ignore[no-untyped-def]
        self.path.append(self.path_of_module(m))
        try:
            unrolled = _encoder_forward(m, args, kwargs) or _attention_forward(m, args, kwargs)
            if unrolled is not None:  # traced through, like any module outside torch.nn
                return unrolled(*args)
            return super().call_module(m, forward, args, kwargs)
        except Exception:
            if self.failed_in is None:
                self.failed_in = (self.path[-1], type(m).__name__)
            raise
        finally:
            self.path.pop()


def _encoder_forward(m: torch.nn.Module, args: tuple, kwargs: dict):  # type: ignore[no-untyped-def]
    """For ``nn.TransformerEncoder`` and ``nn.TransformerEncoderLayer`` called on one
    tensor without masks: their eval-mode computation written out (PyTorch's own
    "slow path", equal to the fused fast path within float rounding), so each layer's
    attention, feed-forward and norms become nodes of their own that the blocks and the
    partitioner can separate. fx would otherwise keep each as one opaque leaf (a module
    of ``torch.nn``), and their Python forward branches on tensor properties fx cannot
    trace. Any other call (masks, causal flags): None, the module stays a leaf."""
    if len(args) != 1 or any(v is not None and v is not False for v in kwargs.values()):
        return None
    if isinstance(m, torch.nn.TransformerEncoder):
        def encoder(src):  # type: ignore[no-untyped-def]
            for layer in m.layers:
                src = layer(src)
            return src if m.norm is None else m.norm(src)
        return encoder
    if isinstance(m, torch.nn.TransformerEncoderLayer):
        def layer(x):  # type: ignore[no-untyped-def]
            if m.norm_first:
                x = x + m._sa_block(m.norm1(x), None, None)
                return x + m._ff_block(m.norm2(x))
            x = m.norm1(x + m._sa_block(x, None, None))
            return m.norm2(x + m._ff_block(x))
        return layer
    return None


def _attention_forward(m: torch.nn.Module, args: tuple, kwargs: dict):  # type: ignore[no-untyped-def]
    """For ``nn.MultiheadAttention`` called on (query, key, value) in eval mode without
    masks and with ``need_weights=False`` (as every ``nn.TransformerEncoderLayer`` calls
    it): one branch per head, each projecting its own query, key and value (views of the
    weights' rows for that head), then ``scaled_dot_product_attention``; the heads'
    outputs concatenated and projected. The same arithmetic as the module (within float
    rounding), so the heads become parallel blocks the partitioner can place on
    different units; as one leaf they were one block that no placement could split.
    Returns ``(output, None)`` as the module does without weights. Any other call
    (masks, attention weights, ``bias_k``/``bias_v``, ``add_zero_attn``, training):
    None, the module stays a leaf."""
    if not isinstance(m, torch.nn.MultiheadAttention) or m.training or len(args) != 3:
        return None
    if kwargs.get("need_weights", True) is not False or m.bias_k is not None or m.add_zero_attn:
        return None
    if any(v is not None and v is not False for k, v in kwargs.items() if k not in ("need_weights",
                                                                                 "average_attn_weights")):
        return None
    e, d = m.embed_dim, m.head_dim
    weights = ((m.in_proj_weight[:e], m.in_proj_weight[e:2 * e], m.in_proj_weight[2 * e:])
               if m._qkv_same_embed_dim else (m.q_proj_weight, m.k_proj_weight, m.v_proj_weight))
    biases = (None,) * 3 if m.in_proj_bias is None else (m.in_proj_bias[:e], m.in_proj_bias[e:2 * e],
                                                          m.in_proj_bias[2 * e:])

    def attention(query, key, value):  # type: ignore[no-untyped-def]
        inputs = (query, key, value)
        if not m.batch_first:  # (L, N, E) → (N, L, E); an unbatched (L, E) stays as it is
            inputs = tuple(t.transpose(0, -2) for t in inputs)
        heads = []
        for h in range(m.num_heads):
            rows = slice(h * d, (h + 1) * d)
            q, k, v = (F.linear(t, w[rows], None if b is None else b[rows])
                       for t, w, b in zip(inputs, weights, biases))
            heads.append(F.scaled_dot_product_attention(q, k, v))
        out = m.out_proj(torch.cat(heads, dim=-1))
        return (out if m.batch_first else out.transpose(0, -2)), None

    return attention


class Traced(torch.nn.Module):
    """A traced model: its ``graph`` plus the submodules, parameters, buffers and tensor
    attributes the graph names (shared with the model, in dictionaries of its own, so
    out-of-place twins can be added without touching the user's module).

    Not an ``fx.GraphModule``: generating and compiling the Python code of a graph of
    thousands of nodes, and rebuilding the module hierarchy, took about a second for a
    1000-block model and nothing here calls the whole graph; an ``fx.Interpreter`` and
    the blocks' own small GraphModules read it instead.
    """

    def __init__(self, root: torch.nn.Module, graph: fx.Graph) -> None:
        super().__init__()
        self._modules.update(root._modules)
        self._parameters.update(root._parameters)
        self._buffers.update(root._buffers)
        for node in graph.nodes:
            head = node.target.split(".")[0] if node.op == "get_attr" else None
            if head is not None and not hasattr(self, head):
                object.__setattr__(self, head, getattr(root, head))
        self.graph = graph
        graph.owning_module = self  # fx's purity checks look submodules up here


def _defaults(model: torch.nn.Module) -> dict[str, object]:
    """``forward``'s parameters after the first whose default is None, a bool, a number
    or a string (``mask=None``, ``scale=1.0``): traced at that default, the value every
    parawire run passes (it feeds one image). Without this each became a graph input and
    the model was refused as taking several inputs, or ``if mask is not None`` failed to
    trace. Not containers: fx then flattens inputs and outputs (its pytree code
    generation), and the graph no longer returns one tensor."""
    try:
        params = list(inspect.signature(model.forward).parameters.values())[1:]
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and (p.default is None or isinstance(p.default, (bool, int, float, str)))}


def _drop_specialised(graph: fx.Graph, names: set[str]) -> None:
    """Remove the inputs fx keeps for ``concrete_args`` (named ``NAME_1``) and the checks
    it adds on them (``_assert_is_none``, ``torch._assert(mask == …)``): nothing passes
    them, and the traced values already use the defaults. Unread inputs with a default
    (``size=(1, 2)``) and unread ``*args``/``**kwargs`` go too: a call with the image
    alone gives them their default or nothing."""
    inputs = [n for n in list(graph.nodes)[1:] if n.op == "placeholder" and (
        n.target.rsplit("_", 1)[0] in names or not n.users and (n.args or n.target.startswith("*")))]
    doomed: dict[fx.Node, None] = {}
    stack = list(inputs)
    while stack:
        n = stack.pop()
        if n not in doomed:
            doomed[n] = None
            stack.extend(n.users)
    for n in reversed(graph.nodes):
        if n in doomed:
            graph.erase_node(n)


_REMEDIES = (
    (("control flow", "cannot be iterated"), "remove data-dependent Python control flow there"),
    (("item assignment",), "write the indexed assignment out of place (torch.where, masked_fill, index_put, torch.cat)"),
)


def _remedy(reason: str) -> str:
    """What to change for fx's failure ``reason``. Every failure was answered "remove
    data-dependent control flow", also an indexed assignment ``y[:, :4] = 0`` or a
    ``len(tensor)``, which have nothing to do with it."""
    return next((fix for causes, fix in _REMEDIES if any(cause in reason for cause in causes)),
                "rewrite that code so torch.fx can trace it (docs/models.md, Tracing)")


def trace(model: torch.nn.Module, name: str) -> Traced:
    """``model`` traced, or one line saying which submodule failed and why."""
    tracer = _Tracer()
    defaults = _defaults(model)
    try:
        with TRACING:
            graph = tracer.trace(model, concrete_args=defaults or None)
            _drop_specialised(graph, set(defaults))
    except Exception as exc:
        path, cls = tracer.failed_in or ("", type(model).__name__)
        where = f"submodule '{path}' ({cls})" if path else f"its forward ({cls})"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ParawireError(f"model {name}: torch.fx cannot trace {where}: {type(exc).__name__}: {reason}"
                            f"; {_remedy(reason)}") from None
    return Traced(tracer.root, graph)


@functools.lru_cache(maxsize=None)
def _inplace_position(target: object) -> int | None:
    """Position of a function's ``inplace`` parameter (None: it has none). Cached: parsing
    a builtin's text signature costs about 0.5 ms, once per node without the cache."""
    try:
        params = list(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        return None
    return params.index("inplace") if "inplace" in params else None


def _inplace_flag(node: fx.Node) -> bool:
    """Whether a call_function node passes ``inplace=True`` (by keyword or position)."""
    if node.kwargs.get("inplace") is True:
        node.kwargs = {**node.kwargs, "inplace": False}
        return True
    try:
        i = _inplace_position(node.target)
    except TypeError:  # unhashable callable
        return False
    if i is not None:
        if i < len(node.args) and node.args[i] is True:
            node.args = (*node.args[:i], False, *node.args[i + 1:])
            return True
    return False


def _out_of_place(gm: Traced, node: fx.Node) -> fx.Node | None:
    """Rewrite ``node`` out of place; return the node it mutated (None: not in place)."""
    first = node.args[0] if node.args and isinstance(node.args[0], fx.Node) else None
    if node.op == "call_module":
        module = gm.get_submodule(node.target)
        if getattr(module, "inplace", False) is not True:
            return None
        twin = copy.copy(module)  # the user's module object is left untouched
        twin.inplace = False
        name = node.target.replace(".", "_") + "_out_of_place"
        gm.add_module(name, twin)
        node.target = name
        return first
    if node.op == "call_function":
        if node.target in _INPLACE_OPERATORS:
            node.target = _INPLACE_OPERATORS[node.target]
            return first
        name = getattr(node.target, "__name__", "")
        if name.endswith("_") and not name.startswith("_") and getattr(torch, name, None) is node.target:
            twin = getattr(torch, name[:-1], None)
            if twin is None:
                raise ParawireError(f"node {node.name}: torch.{name} has no out-of-place twin; write it out of place")
            node.target = twin
            return first
        return first if _inplace_flag(node) else None
    if node.op == "call_method":
        name = node.target
        if not name.endswith("_") or name.startswith("_") or name in _NOT_MUTATING_METHODS:
            return None
        if not hasattr(torch.Tensor, name[:-1]):
            raise ParawireError(f"node {node.name}: in-place Tensor.{name} has no out-of-place twin; write it out of place")
        node.target = name[:-1]
        return first
    return None


def functionalize(gm: Traced) -> Traced:
    """Make every in-place node out of place and point later readers at its result."""
    position = {n: i for i, n in enumerate(gm.graph.nodes)}
    for node in list(gm.graph.nodes):
        mutated = _out_of_place(gm, node)
        if mutated is None:
            continue
        for user in list(mutated.users):
            if user is not node and position[user] > position[node]:
                user.replace_input_with(mutated, node)
    _drop_unread(gm.graph)
    return gm


def _drop_unread(graph: fx.Graph) -> None:
    """Remove computations nobody reads (after the rewrite no node mutates anything).

    fx's ``eliminate_dead_code`` does the same but asks every node whether it is impure,
    looking each module up again: 0.6–0.9 s on a 4,000-node graph, against 0.02 s here.
    Calls fx lists as side-effecting (``torch._assert`` and the like) are kept.
    """
    for node in reversed(graph.nodes):
        if node.op in ("call_module", "call_function", "call_method", "get_attr") and not node.users \
                and node.target not in fx.node._side_effectful_functions:
            graph.erase_node(node)
