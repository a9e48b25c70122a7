"""Built-in partitioners: ``multilevel`` (ours, the default), ``metis``, ``greedy``.

Each one is ``partition(hypergraph, k, eps, seed, params) -> vertex→unit array``, keeps
every unit non-empty when |V| ≥ k, honours max part weight ≤ (1+ε)·⌈W/k⌉ whenever it
can, and otherwise returns its best effort with an
:class:`parawire.score.metrics.ImbalanceWarning`. Same seed, same partition.
"""

from parawire.registry.hookspecs import hookimpl
from parawire.registry.records import NoParams, PartitionerPlugin


@hookimpl
def parawire_partitioners():
    from parawire.plugins.partitioners import greedy, metis, multilevel

    return [
        PartitionerPlugin(
            name="multilevel",
            summary="own km1 partitioner: initial portfolio, k-way FM, V-cycles",
            params=multilevel.MultilevelParams,
            partition=multilevel.partition,
        ),
        PartitionerPlugin(
            name="metis",
            summary="pymetis on the clique/star expansion, then balance repair",
            params=metis.MetisParams,
            partition=metis.partition,
        ),
        PartitionerPlugin(
            name="greedy",
            summary="paper appendix: sequential-path groups to the least-loaded unit",
            params=NoParams,
            partition=greedy.partition,
        ),
    ]
