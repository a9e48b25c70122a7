"""What a plugin hands to parawire: one typed record per implementation, and the
context each implementation is called with.

Hooks return records and the plugin manager builds the registries (the conda/hatch
pattern, see docs/plugins.md): a record carries its ``name``, a pydantic model of its
parameters (so ``parawire plugins`` can show them and specs are validated before work
starts) and the callable that does the work.

Every callable is invoked through :meth:`PluginRecord.invoke` with *keywords*: the
fields of its kind's context object (``nodes``, ``rng``, … see each context below), the
context itself as ``context``, and the validated ``params``. It receives only the
keywords its signature names (all of them with ``**kwargs``), so a plugin declares what
it needs, and arguments added to a context later never break an older plugin (the
pluggy rule, applied to the callables too).

The same invocation validates the parameters (unknown names refused, whatever the
model says about extras) and checks the output against the kind's contract
(:mod:`parawire.registry.contracts`), so every plugin error, in its code or in what it
returns, is one line naming the plugin and its distribution.

Adding a kind is one record class (with ``kind``, ``hook``, ``call_attr``,
``params_field`` and a ``check`` of its output), one context class if it gets data, one
check in :mod:`parawire.registry.contracts`, one ``@hookspec`` in
:mod:`parawire.registry.hookspecs` and one entry in :data:`KINDS`.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

from parawire.errors import ParawireError, PluginError, SpecError
from parawire.graph.spec import resolve_params
from parawire.registry import contracts
from parawire.score.metrics import ImbalanceWarning
from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # annotations only
    import numpy as np
    from parawire.graph.dag import Dag
    from parawire.graph.spec import ArchitectureSpec
    from parawire.score.hypergraph import Hypergraph
    from parawire.score.metrics import Metrics

API_VERSION = "1.0"
"""The plugin API this parawire provides, ``MAJOR.MINOR``: what :mod:`parawire.plugin`
exports and the contracts of the records and contexts. A plugin module may declare the
version it was written for as ``PARAWIRE_API = "1.0"``; the manager refuses one of
another major version, or of a newer minor (it may use what this parawire lacks), with
one line naming its distribution. A new minor only adds; a new major may break."""


class NoParams(BaseModel):
    """Parameters model for plugins that take none."""

    model_config = ConfigDict(extra="forbid")


# -- contexts: what each kind's callable is given ------------------------------------------


@dataclass(frozen=True)
class GeneratorContext:
    """A generator draws ``nodes`` vertices labelled ``0..nodes-1`` with ``rng`` (a
    ``numpy.random.Generator`` derived from the spec's seed: the only randomness a
    generator may use, so the same spec always gives the same graph). ``spec`` is the
    whole :class:`~parawire.graph.spec.ArchitectureSpec`, for generators that care about more
    than the size."""

    nodes: int
    rng: np.random.Generator
    spec: ArchitectureSpec | None = None


@dataclass(frozen=True)
class StagingContext:
    """A staging policy decides, per DAG vertex, whether its block stages (halves H×W,
    doubles channels). ``dag`` numbers its vertices ``0..dag.nodes+1``: computation
    vertices ``0..nodes-1``, then the input ``dag.input`` (= nodes) and the output
    ``dag.output`` (= nodes+1). ``spec`` holds ``base_channels`` and ``channel_cap``;
    ``rng`` is the spec's staging stream."""

    dag: Dag
    spec: ArchitectureSpec
    rng: np.random.Generator


@dataclass(frozen=True)
class PartitionContext:
    """A partitioner splits ``hypergraph`` (vertex weight = FLOPs, one net per vertex =
    the vertex and its successors, net cost = its output bytes) into ``k`` parts, with
    imbalance bound ``eps`` and ``seed`` for any randomness. ``dag`` is the DAG the
    hypergraph came from, or ``None`` for a hypergraph built from bare arrays."""

    hypergraph: Hypergraph
    k: int
    eps: float
    seed: int
    dag: Dag | None = None


@dataclass(frozen=True)
class ScoreContext:
    """A score judges one partition: ``partition[v]`` is vertex v's unit (``0..units-1``)
    on ``hypergraph`` (from ``dag``), at imbalance bound ``eps``; ``metrics`` are the
    paper's measures of it, already computed (see :class:`~parawire.score.metrics.Metrics`)."""

    partition: np.ndarray
    hypergraph: Hypergraph
    dag: Dag | None
    metrics: Metrics
    units: int
    eps: float


@dataclass(frozen=True)
class CompileContext:
    """An engine compiles ``vertices`` (a unit's, in topological order) of ``net`` (an
    ``ArchitectureNet`` in eval mode, weights in place) for ``threads`` intra-op threads
    (``None``: leave the setting alone)."""

    net: Any
    vertices: Sequence[int]
    threads: int | None = None


@dataclass(frozen=True)
class WholeContext:
    """An engine runs the complete ``net`` as one process would (``whole``)."""

    net: Any
    threads: int | None = None


@dataclass(frozen=True)
class FuseContext:
    """An engine computes a run of vertices, ``segment`` (a
    :class:`~parawire.executor.segments.Segment`), in one call (``fuse``)."""

    net: Any
    segment: Any
    threads: int | None = None


@dataclass(frozen=True)
class ModuleContext:
    """An engine runs ``module`` (any torch module, eval mode) on inputs shaped like
    ``inputs``, in one call (``module``): a hybrid plan's tile stack."""

    module: Any
    inputs: tuple[Any, ...]
    threads: int | None = None


@dataclass(frozen=True)
class PrepareContext:
    """An engine scales the inputs of ``vertex`` at ``positions`` in one call (``prepare``)."""

    net: Any
    vertex: int
    positions: tuple[int, ...]
    threads: int | None = None


# -- records -------------------------------------------------------------------------------


def _accepted(function: Callable[..., Any]) -> tuple[frozenset[str] | None, frozenset[str]]:
    """(keyword names the function takes, or None for ``**kwargs``; names it requires)."""
    try:
        return _accepted_cached(function)
    except TypeError:  # an unhashable callable object
        return _signature_names(function)


@lru_cache(maxsize=1024)
def _accepted_cached(function: Callable[..., Any]) -> tuple[frozenset[str] | None, frozenset[str]]:
    return _signature_names(function)


def _signature_names(function: Callable[..., Any]) -> tuple[frozenset[str] | None, frozenset[str]]:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a signature: pass everything
        return None, frozenset()
    names, required, open_ended = set(), set(), False
    for p in signature.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            open_ended = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            names.add(p.name)
            if p.default is p.empty:
                required.add(p.name)
    return (None if open_ended else frozenset(names)), frozenset(required)


@lru_cache(maxsize=256)
def _strict(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` with extra fields forbidden: a misspelt optional parameter is an error
    whether or not the plugin's author remembered ``extra="forbid"``."""
    if model.model_config.get("extra") == "forbid":
        return model
    return type(model.__name__, (model,), {"model_config": ConfigDict(extra="forbid"), "__module__": model.__module__})


@dataclass(frozen=True)
class PluginRecord:
    """Fields every kind shares. ``distribution`` is filled in by the plugin manager
    (the distribution whose entry point returned the record); plugins leave it out."""

    name: str
    summary: str
    params: type[BaseModel]
    distribution: str = field(default="", kw_only=True, compare=False)

    kind: ClassVar[str] = "plugin"
    hook: ClassVar[str] = ""
    call_attr: ClassVar[str] = ""
    params_field: ClassVar[str] = "params"
    """Where bad parameters are reported: ``partitioner_params[chunks].rounds: …``."""

    @property
    def function(self) -> Callable[..., Any]:
        return getattr(self, self.call_attr)

    @property
    def label(self) -> str:
        """How errors name this plugin: ``generator 'sbm' (parawire-sbm)``."""
        where = f" ({self.distribution})" if self.distribution else ""
        return f"{self.kind} {self.name!r}{where}"

    def resolve(self, values: BaseModel | Mapping[str, Any] | None = None) -> BaseModel:
        """``values`` validated by the plugin's params model, extra names refused (whatever
        the model says about extras), as one line naming the field: an instance of the
        model passes as it is."""
        if isinstance(values, self.params):
            return values
        values = dict(values or {})
        where = f"{self.params_field}[{self.name}]"
        resolve_params(_strict(self.params), values, where=where)
        return resolve_params(self.params, values, where=where)

    def call_for(self, context: Any) -> str:
        """The attribute ``invoke`` calls for ``context`` (one per kind but engines)."""
        return self.call_attr

    def invoke(self, context: Any = None, params: BaseModel | Mapping[str, Any] | None = None) -> Any:
        """Call the plugin with the keywords it declares (see the module docstring) and
        check what it returns against its kind's contract (:meth:`check`).

        ``params`` (a mapping, or an instance of the plugin's model) is validated first.
        Errors raised inside plugin code reach the user as one line naming the plugin:
        a :class:`~parawire.errors.ParawireError` keeps its type and message (prefixed
        with the plugin unless it already names it), a ``ValueError`` becomes a
        :class:`SpecError`, anything else a :class:`PluginError`; the original exception
        stays attached as ``__cause__``. An output that breaks the contract is a
        :class:`PluginError` naming the plugin too.
        """
        params = self.resolve(params)
        call = self.call_for(context)
        function = getattr(self, call)
        offered: dict[str, Any] = {}
        if context is not None:
            offered.update({f.name: getattr(context, f.name) for f in fields(context)})
            offered["context"] = context
        offered["params"] = params
        accepted, required = _accepted(function)
        missing = required - offered.keys()
        if missing:
            raise PluginError(
                f"{self.label}: its {call}() requires {', '.join(sorted(missing))},"
                f" which parawire does not pass; it may take {', '.join(sorted(offered))}"
            )
        kwargs = offered if accepted is None else {k: v for k, v in offered.items() if k in accepted}
        try:
            output = self.run(function, kwargs)
        except ParawireError as exc:
            if repr(self.name) in str(exc) or f"[{self.name}]" in str(exc):
                raise
            try:
                named = type(exc)(f"{self.label}: {exc}")
            except TypeError:  # an error type with its own constructor: keep it as it is
                raise exc from None
            raise named from exc
        except ValueError as exc:
            raise SpecError(f"{self.label}: {exc}") from exc
        except Exception as exc:
            raise PluginError(f"{self.label} failed: {type(exc).__name__}: {exc}") from exc
        checked = self.check(call, output, context)
        if isinstance(checked, contracts.Breach):
            raise PluginError(f"{self.label}: {checked.problem}")
        return checked

    def run(self, function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """Call the plugin's function (a kind may wrap the call, as partitioners do)."""
        return function(**kwargs)

    def check(self, call: str, output: Any, context: Any) -> Any:
        """The output as parawire uses it, or a :class:`~parawire.registry.contracts.Breach`."""
        return output


@dataclass(frozen=True)
class GeneratorPlugin(PluginRecord):
    """``generate(nodes, rng, params[, spec, context]) -> networkx.Graph | networkx.DiGraph``.

    See :class:`GeneratorContext`. An undirected graph is oriented by the paper's DFS
    rule; a DiGraph (already acyclic, e.g. ``fb``'s stages) is taken as it is. Vertices
    with no predecessor are fed by the input vertex, those with no successor feed the
    output vertex.
    """

    generate: Callable[..., Any] = None  # type: ignore[assignment]
    kind: ClassVar[str] = "generator"
    hook: ClassVar[str] = "parawire_generators"
    call_attr: ClassVar[str] = "generate"

    def check(self, call: str, output: Any, context: GeneratorContext) -> Any:
        return contracts.graph(output, context.nodes)


@dataclass(frozen=True)
class StagingPlugin(PluginRecord):
    """``assign(dag, spec, rng, params[, context]) -> bool array of length dag.nodes + 2``:
    entry v says whether vertex v's block stages. See :class:`StagingContext`; use
    :func:`~parawire.network.shapes.cap_stages` to respect ``spec.channel_cap``. The input and
    output vertices are never staged, whatever the array says there."""

    assign: Callable[..., Any] = None  # type: ignore[assignment]
    kind: ClassVar[str] = "staging"
    hook: ClassVar[str] = "parawire_staging_policies"
    call_attr: ClassVar[str] = "assign"
    params_field: ClassVar[str] = "staging_params"

    def check(self, call: str, output: Any, context: StagingContext) -> Any:
        return contracts.flags(output, context.dag.nodes + 2)


@dataclass(frozen=True)
class PartitionerPlugin(PluginRecord):
    """``partition(hypergraph, k, eps, seed, params[, dag, context]) -> int array``
    (vertex → unit ``0..k-1``, one entry per hypergraph vertex). See
    :class:`PartitionContext`.

    Must honour max part weight ≤ (1+eps)·ceil(W/k) whenever that is possible, and
    warn (:class:`~parawire.score.metrics.ImbalanceWarning`) when it is not:
    :func:`~parawire.plugin.repaired` does both for any assignment.
    """

    partition: Callable[..., Any] = None  # type: ignore[assignment]
    kind: ClassVar[str] = "partitioner"
    hook: ClassVar[str] = "parawire_partitioners"
    call_attr: ClassVar[str] = "partition"
    params_field: ClassVar[str] = "partitioner_params"

    def run(self, function: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        """The plugin's own imbalance warnings are set aside: :meth:`check` judges the
        partition it returns and warns once, naming it, when a part is too heavy."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImbalanceWarning)
            return function(**kwargs)

    def check(self, call: str, output: Any, context: PartitionContext) -> Any:
        return contracts.partition(output, context.hypergraph, context.k, context.eps, self.label)


@dataclass(frozen=True)
class ScorePlugin(PluginRecord):
    """``score(context, params) -> float`` (or any of the :class:`ScoreContext` fields
    by name, e.g. ``score(metrics, params)``); lower is better, as for the paper's CS."""

    score: Callable[..., Any] = None  # type: ignore[assignment]
    kind: ClassVar[str] = "score"
    hook: ClassVar[str] = "parawire_scores"
    call_attr: ClassVar[str] = "score"
    params_field: ClassVar[str] = "score_params"

    def check(self, call: str, output: Any, context: ScoreContext) -> Any:
        return contracts.number(output)


@dataclass(frozen=True)
class TransportPlugin(PluginRecord):
    """``factory(params) -> Transport`` (see :class:`parawire.plugin.Transport`).

    ``params`` is an instance of the record's ``params`` model, validated from the
    command line (``--transport-param NAME=VALUE``) or the caller. Workers call
    ``close()`` on the transport, if it has one, when they stop. ``in_process=True``
    says messages never leave the process (like ``inproc``): local workers are then
    started as threads, and ``parawire worker`` refuses it.
    """

    factory: Callable[..., Any] = None  # type: ignore[assignment]
    in_process: bool = False
    kind: ClassVar[str] = "transport"
    hook: ClassVar[str] = "parawire_transports"
    call_attr: ClassVar[str] = "factory"
    params_field: ClassVar[str] = "transport_params"

    def check(self, call: str, output: Any, context: None) -> Any:
        return contracts.transport(output)


DEFAULT_ENGINE = "onnxruntime"
"""The engine plugin used when none is named: the fastest measured on the reference
machine (docs/engines.md). Kept beside :class:`EnginePlugin` because workers, the
calibration and the command line all need the name, and none of them may import the
engines themselves."""


@dataclass(frozen=True)
class EnginePlugin(PluginRecord):
    """``compile(net, vertices, threads, params) -> {vertex: block}`` for inference.

    Four callables, one invocation: the context's type picks the one called
    (:class:`CompileContext` → ``compile``, :class:`WholeContext` → ``whole``,
    :class:`FuseContext` → ``fuse``, :class:`PrepareContext` → ``prepare``), each with
    the engine's validated ``params`` (``--engine-param``) if it takes them.

    ``net`` is a :class:`parawire.network.nn.ArchitectureNet` in eval mode holding at least
    ``vertices`` (weights rebuilt from the seed or loaded); each block is a callable
    ``block(inputs) -> tensor`` or a :class:`parawire.executor.runner.StagedBlock`, and
    must compute what ``net.blocks[str(v)]`` computes (within float rounding).
    ``threads`` is the intra-op thread count the caller wants (``None``: leave it).

    ``whole(net, threads) -> callable(x) -> logits``: the complete network the way one
    process would run it with this engine (the single-process baseline of ``parawire run``).

    ``fuse(net, segment, threads) -> callable(inputs) -> outputs`` (optional): one call
    for a run of vertices (:class:`parawire.executor.segments.Segment`: its ``inputs``
    in, its ``outputs`` out, in those orders), for engines whose per-call cost makes
    one call per vertex slow; workers then fuse the runs that delay no message.

    ``prepare(net, vertex, positions, threads) -> callable(inputs) -> prepared`` (optional):
    one call for the scaling steps of several inputs of ``vertex`` (those at
    ``positions`` of its inputs, in and out in that order); workers use it for inputs
    one run produces, which are there at the same moment.

    ``module(module, inputs, threads) -> callable(inputs) -> outputs`` (optional): any torch
    module at the shapes of the example ``inputs``, outputs as a sequence of tensors; a
    hybrid plan's tile unit runs its tile stack (:class:`parawire.network.tiled.TileStack`)
    through it, so the tiles run on the engine too (without it: torch).
    """

    compile: Callable[..., Any] = None  # type: ignore[assignment]
    whole: Callable[..., Any] = None  # type: ignore[assignment]
    fuse: Callable[..., Any] | None = None
    prepare: Callable[..., Any] | None = None
    module: Callable[..., Any] | None = None
    kind: ClassVar[str] = "engine"
    hook: ClassVar[str] = "parawire_engines"
    call_attr: ClassVar[str] = "compile"
    params_field: ClassVar[str] = "engine_params"
    calls: ClassVar[dict[type, str]] = {
        CompileContext: "compile", WholeContext: "whole", FuseContext: "fuse", PrepareContext: "prepare",
        ModuleContext: "module",
    }

    def call_for(self, context: Any) -> str:
        call = self.calls.get(type(context))
        if call is None or getattr(self, call) is None:
            raise PluginError(f"{self.label}: has no {call or type(context).__name__} to call")
        return call

    def check(self, call: str, output: Any, context: Any) -> Any:
        if call == "compile":
            checked = contracts.blocks(output, context.vertices)
            return checked if isinstance(checked, contracts.Breach) else contracts.shapes(
                checked, context.net, context.vertices)
        checked = contracts.function(output, call)
        if call == "fuse" and not isinstance(checked, contracts.Breach):
            return contracts.fused_shapes(checked, context.net, context.segment)
        return checked


DEFAULT_CODEC = "raw"
"""The codec of every crossing unless one is named: float32 as computed, exact. A lossy
codec is never chosen for the user (docs/executor.md, Codecs)."""


@dataclass(frozen=True)
class CodecPlugin(PluginRecord):
    """``factory(params) -> Codec`` (see :class:`parawire.registry.codecs.Codec`): how one
    activation crosses between units.

    The codec object encodes one tensor into one payload frame and decodes it back
    (checking the frame before allocating anything), says how many bytes it sends for a
    dtype and shape (``encoded_bytes``: what the score, the latency model and the
    placement count) and whether it is ``exact``. ``params`` is an instance of the
    record's model, validated from ``--codec-param NAME=VALUE`` or the plan.
    """

    factory: Callable[..., Any] = None  # type: ignore[assignment]
    kind: ClassVar[str] = "codec"
    hook: ClassVar[str] = "parawire_codecs"
    call_attr: ClassVar[str] = "factory"
    params_field: ClassVar[str] = "codec_params"

    def check(self, call: str, output: Any, context: None) -> Any:
        return contracts.codec(output)


KINDS: dict[str, type[PluginRecord]] = {
    "generators": GeneratorPlugin,
    "staging": StagingPlugin,
    "partitioners": PartitionerPlugin,
    "scores": ScorePlugin,
    "transports": TransportPlugin,
    "engines": EnginePlugin,
    "codecs": CodecPlugin,
}
"""Every plugin kind: registry name → record type (which names its hook)."""
