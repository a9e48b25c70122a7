"""What a plugin hands to parawire: one typed record per implementation.

Hooks return records and the plugin manager builds the registries (the conda/hatch
pattern, see docs/plugins.md): a record carries its ``name``, a pydantic model of its
parameters (so ``parawire plugins`` can show them and specs are validated before work
starts) and the callable that does the work. The callables' contracts are written on
each record; they are keyword-called, so a plugin may ignore arguments added later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict


class NoParams(BaseModel):
    """Parameters model for plugins that take none."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class PluginRecord:
    """Fields every kind shares."""

    name: str
    summary: str
    params: type[BaseModel]

    kind = "plugin"


@dataclass(frozen=True)
class GeneratorPlugin(PluginRecord):
    """``generate(nodes, params, rng) -> networkx.Graph | networkx.DiGraph``.

    ``nodes`` vertices labelled ``0..nodes-1``; ``rng`` is a ``numpy.random.Generator``
    derived from the spec's seed. An undirected graph is oriented by the paper's DFS
    rule; a DiGraph (already acyclic, e.g. ``fb``'s stages) is taken as it is.
    """

    generate: Callable[..., Any] = None  # type: ignore[assignment]
    kind = "generator"


@dataclass(frozen=True)
class StagingPlugin(PluginRecord):
    """``assign(dag, spec, params, rng) -> numpy bool array``: stage after vertex v?"""

    assign: Callable[..., Any] = None  # type: ignore[assignment]
    kind = "staging"


@dataclass(frozen=True)
class PartitionerPlugin(PluginRecord):
    """``partition(hypergraph, k, eps, seed, params) -> numpy int array`` (vertex → unit).

    Must honour max part weight ≤ (1+eps)·ceil(W/k) whenever that is possible.
    """

    partition: Callable[..., Any] = None  # type: ignore[assignment]
    kind = "partitioner"


@dataclass(frozen=True)
class ScorePlugin(PluginRecord):
    """``score(metrics, params) -> float``; lower is better, as for the paper's CS."""

    score: Callable[..., Any] = None  # type: ignore[assignment]
    kind = "score"


@dataclass(frozen=True)
class TransportPlugin(PluginRecord):
    """``factory(**options) -> Transport`` (see ``parawire.executor``)."""

    factory: Callable[..., Any] = None  # type: ignore[assignment]
    kind = "transport"


@dataclass(frozen=True)
class EnginePlugin(PluginRecord):
    """``compile(net, vertices, threads, params) -> {vertex: block}`` for inference.

    ``net`` is a :class:`parawire.nn.ArchitectureNet` in eval mode holding at least
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
    """

    compile: Callable[..., Any] = None  # type: ignore[assignment]
    whole: Callable[..., Any] = None  # type: ignore[assignment]
    fuse: Callable[..., Any] | None = None
    kind = "engine"


KINDS: dict[str, type[PluginRecord]] = {
    "generators": GeneratorPlugin,
    "staging": StagingPlugin,
    "partitioners": PartitionerPlugin,
    "scores": ScorePlugin,
    "transports": TransportPlugin,
    "engines": EnginePlugin,
}
