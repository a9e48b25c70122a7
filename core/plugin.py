"""Everything a plugin author imports from parawire: the one public module for plugins.

``from parawire.plugin import …`` the names in :data:`__all__`; every other module of
parawire is private and may change. Each kind's contract (what its callable receives
and must return) is written on its record and context class; docs/plugins.md has a
complete worked example per kind.

=============== ==================== ===================== =======================
kind            hook                 record                callable gets
=============== ==================== ===================== =======================
generators      parawire_generators  GeneratorPlugin       GeneratorContext fields
staging         parawire_staging_…   StagingPlugin         StagingContext fields
partitioners    parawire_partitioners PartitionerPlugin    PartitionContext fields
scores          parawire_scores      ScorePlugin           ScoreContext fields
transports      parawire_transports  TransportPlugin       params only
engines         parawire_engines     EnginePlugin          CompileContext fields
                                                           (WholeContext, …)
codecs          parawire_codecs      CodecPlugin           params only
=============== ==================== ===================== =======================

Every callable is called through :meth:`PluginRecord.invoke`, which validates its
``params`` (extra names refused) and checks what it returns against its kind's contract,
so a broken output is one line naming the plugin. :data:`API_VERSION` is the plugin API
this parawire provides; declare the one you wrote for as ``PARAWIRE_API = "1.0"`` in the
module of your entry point and parawire refuses it, with one line, where it cannot work.

Errors: raise :class:`SpecError` for bad input (parameters, a graph too small for the
parameters, …) with a one-line message naming the field and the fix. Any other
exception escaping a plugin is shown as one line naming the plugin (``ValueError`` as a
``SpecError``), the original kept as ``__cause__``. :class:`ProtocolError` is the one a
transport (or anything a worker calls) raises for a message to drop and count.

Names below the hook layer are imported on first use, so importing this module (which
every plugin does at start-up, for ``parawire plugins`` too) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from parawire.errors import ParawireError, PluginError, SpecError
from parawire.registry.hookspecs import hookimpl
from parawire.registry.records import (
    API_VERSION,
    CodecPlugin,
    CompileContext,
    EnginePlugin,
    FuseContext,
    GeneratorContext,
    GeneratorPlugin,
    ModuleContext,
    NoParams,
    PartitionContext,
    PartitionerPlugin,
    PrepareContext,
    ScoreContext,
    ScorePlugin,
    StagingContext,
    StagingPlugin,
    TransportPlugin,
    WholeContext,
)

_LAZY = {
    # what the callables receive
    "ArchitectureSpec": "parawire.graph.spec",
    "Dag": "parawire.graph.dag",
    "to_dag": "parawire.graph.dag",
    "Hypergraph": "parawire.score.hypergraph",
    "Metrics": "parawire.score.metrics",
    # staging policies: respect the channel cap as the built-ins do
    "cap_stages": "parawire.network.shapes",
    "staged_channels": "parawire.network.shapes",
    # partitioners: argument checks, the balance limit, and repair-then-warn
    "check_args": "parawire.plugins.partitioners.kway",
    "trivial_partition": "parawire.plugins.partitioners.kway",
    "repaired": "parawire.plugins.partitioners.kway",
    "balance_limit": "parawire.score.metrics",
    "part_weights": "parawire.score.metrics",
    "km1": "parawire.score.metrics",
    "is_valid": "parawire.score.metrics",
    "ImbalanceWarning": "parawire.score.metrics",
    # transports: the interface, and the ZeroMQ one to build on
    "Transport": "parawire.executor.transport",
    "Inbox": "parawire.executor.transport",
    "Link": "parawire.executor.transport",
    "Client": "parawire.executor.transport",
    "Incoming": "parawire.executor.transport",
    "Frames": "parawire.executor.transport",
    "ZmqTransport": "parawire.executor.transport_zmq",
    "ProtocolError": "parawire.executor.transport",
    "get_transport": "parawire.executor.transport",
    # engines: the network they compile, and the staged-block form of a vertex
    "build_architecture": "parawire.pipeline.build",
    "build_network": "parawire.network.nn",
    "StagedBlock": "parawire.executor.runner",
    "Segment": "parawire.executor.segments",
    # codecs: the interface, the choice a plan carries, and the frame checks of a decoder
    "Codec": "parawire.registry.codecs",
    "CodecChoice": "parawire.registry.codecs",
    "CodecFrameError": "parawire.registry.codecs",
    "get_codec": "parawire.registry.codecs",
    "expect_size": "parawire.registry.codecs",
    "check_scales": "parawire.registry.codecs",
    # randomness derived from a seed, as parawire derives it
    "rng": "parawire.graph.seeds",
}

__all__ = [
    "API_VERSION",
    "hookimpl",
    "GeneratorPlugin",
    "StagingPlugin",
    "PartitionerPlugin",
    "ScorePlugin",
    "TransportPlugin",
    "EnginePlugin",
    "CodecPlugin",
    "NoParams",
    "GeneratorContext",
    "StagingContext",
    "PartitionContext",
    "ScoreContext",
    "CompileContext",
    "WholeContext",
    "FuseContext",
    "PrepareContext",
    "ModuleContext",
    "ParawireError",
    "SpecError",
    "PluginError",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'parawire.plugin' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
