"""Built-in partitioners: ``multilevel`` (ours, the default), ``metis``, ``greedy``.

Each one is ``partition(hypergraph, k, eps, seed, params) -> vertex→unit array``, keeps
every unit non-empty when |V| ≥ k, honours max part weight ≤ (1+ε)·⌈W/k⌉ whenever it
can, and otherwise returns its best effort with an
:class:`parawire.score.metrics.ImbalanceWarning`. Same seed, same partition.

Their code is imported on the first call, not at registration: its numba kernels took
0.35 s to import in every process that loads the plugins (each worker process, each
command), most of which never partition.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from parawire.registry.hookspecs import hookimpl
from parawire.registry.records import NoParams, PartitionerPlugin


def _on_first_call(module: str) -> Callable:
    """``parawire.plugins.partitioners.<module>.partition``, imported when first called."""

    def partition(hypergraph, k, eps, seed, params=None):  # type: ignore[no-untyped-def]
        code = import_module(f"{__name__}.{module}")
        return code.partition(hypergraph, k, eps, seed, params)

    partition.__qualname__ = partition.__name__ = f"{module}_partition"
    return partition


@hookimpl
def parawire_partitioners():
    from parawire.plugins.partitioners.params import MetisParams, MultilevelParams

    return [
        PartitionerPlugin(
            name="multilevel",
            summary="own km1 partitioner: initial portfolio, k-way FM, V-cycles",
            params=MultilevelParams,
            partition=_on_first_call("multilevel"),
        ),
        PartitionerPlugin(
            name="metis",
            summary="pymetis on the clique/star expansion, then balance repair",
            params=MetisParams,
            partition=_on_first_call("metis"),
        ),
        PartitionerPlugin(
            name="greedy",
            summary="paper appendix: sequential-path groups to the least-loaded unit",
            params=NoParams,
            partition=_on_first_call("greedy"),
        ),
    ]
