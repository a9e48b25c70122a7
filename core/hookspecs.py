"""The hook specifications: one ``parawire_*`` hook per plugin kind.

Every hook returns an iterable of records (see ``parawire.records``); the manager
flattens them into one registry per kind. The common prefix lets pluggy's
``check_pending()`` catch a misspelt implementation at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy
from parawire.records import (
    EnginePlugin,
    GeneratorPlugin,
    PartitionerPlugin,
    ScorePlugin,
    StagingPlugin,
    TransportPlugin,
)

PROJECT = "parawire"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def parawire_generators() -> Iterable[GeneratorPlugin]:
    """Random-graph generators (``er``, ``ba``, ``ws``, ``dp``, ``chain``, ``fb``, …)."""


@hookspec
def parawire_staging_policies() -> Iterable[StagingPlugin]:
    """Per-vertex staging policies (``uniform``, ``greedy``, ``probabilistic``)."""


@hookspec
def parawire_partitioners() -> Iterable[PartitionerPlugin]:
    """Hypergraph partitioners (``multilevel``, ``metis``, ``greedy``, …)."""


@hookspec
def parawire_scores() -> Iterable[ScorePlugin]:
    """Score functions over a partition's metrics (``cs``)."""


@hookspec
def parawire_transports() -> Iterable[TransportPlugin]:
    """Message transports for the distributed executor (``zmq``, ``inproc``)."""


@hookspec
def parawire_engines() -> Iterable[EnginePlugin]:
    """Inference engines a worker computes its vertices with (``torch``, ``onnxruntime``)."""


HOOKS = {
    "generators": "parawire_generators",
    "staging": "parawire_staging_policies",
    "partitioners": "parawire_partitioners",
    "scores": "parawire_scores",
    "transports": "parawire_transports",
    "engines": "parawire_engines",
}
