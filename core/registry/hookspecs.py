"""The hook specifications: one ``parawire_*`` hook per plugin kind.

Every hook returns an iterable of records (see :mod:`parawire.registry.records`, whose ``KINDS``
table names each kind's record type and hook); the manager flattens them into one
registry per kind. The common prefix lets the manager catch a misspelt implementation
at start-up and name the distribution it came from.
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy
from parawire.registry.records import (
    KINDS,
    CodecPlugin,
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
    """Score functions over a partition (``cs``)."""


@hookspec
def parawire_transports() -> Iterable[TransportPlugin]:
    """Message transports for the distributed executor (``zmq``, ``inproc``)."""


@hookspec
def parawire_engines() -> Iterable[EnginePlugin]:
    """Inference engines a worker computes its vertices with (``onnxruntime``, ``torch``)."""


@hookspec
def parawire_codecs() -> Iterable[CodecPlugin]:
    """Activation codecs for the tensors that cross between units (``raw``, ``fp16``, ``bf16``,
    ``int8``, ``zstd``)."""


HOOKS = {kind: record.hook for kind, record in KINDS.items()}
"""Registry name → hook name, derived from :data:`parawire.registry.records.KINDS`."""
