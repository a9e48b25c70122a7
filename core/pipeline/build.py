"""Spec → architecture with the installed plugins: the generator draws the graph, the
staging policy decides where the network downsamples.

This is the first layer that looks plugins up; the layers below it are handed what the
plugins produced (a graph, staging flags), so they can be used and tested without a
plugin manager.
"""

from __future__ import annotations

import numpy as np
from parawire.graph.dag import Dag, to_dag
from parawire.graph.seeds import rng
from parawire.graph.spec import ArchitectureSpec
from parawire.network.architecture import Architecture, assemble
from parawire.network.shapes import marked_stages
from parawire.registry.manager import get_plugins
from parawire.registry.records import GeneratorContext, StagingContext


def generator_params(spec: ArchitectureSpec):
    """The spec's generator and its parameters validated against its model."""
    record = get_plugins().generators.get(spec.generator)
    return record, record.resolve(spec.params)


def staging_params(spec: ArchitectureSpec):
    """The spec's staging policy and its parameters validated against its model."""
    record = get_plugins().staging.get(spec.staging)
    return record, record.resolve(spec.staging_params)


def build_dag(spec: ArchitectureSpec) -> Dag:
    """The DAG the spec describes; the same spec always gives the same DAG. The
    generator's graph is checked (vertices as asked, no self-loop, acyclic) by its
    invocation, so a bad one is an error naming the generator, not the DFS."""
    record, params = generator_params(spec)
    graph = record.invoke(GeneratorContext(nodes=spec.nodes, rng=rng(spec.seed, "graph"), spec=spec), params)
    return to_dag(graph)


def stage_flags(spec: ArchitectureSpec, dag: Dag) -> np.ndarray:
    """The generator's marks if it set any, else the spec's staging policy."""
    flags = marked_stages(dag)
    if flags is not None:
        return flags
    record, params = staging_params(spec)
    return record.invoke(StagingContext(dag=dag, spec=spec, rng=rng(spec.seed, "staging")), params)


def build_architecture(spec: ArchitectureSpec) -> Architecture:
    """Spec → DAG → staging → layout → costs; the same spec always gives the same values."""
    dag = build_dag(spec)
    return assemble(spec, dag, stage_flags(spec, dag))
