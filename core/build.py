"""Spec → DAG: look up the generator, validate its parameters, draw, orient."""

from __future__ import annotations

from parawire.dag import Dag, to_dag
from parawire.manager import get_plugins
from parawire.records import GeneratorContext
from parawire.rng import rng
from parawire.spec import ArchitectureSpec, resolve_params


def generator_params(spec: ArchitectureSpec):
    """The spec's generator parameters validated against the generator's model."""
    record = get_plugins().generators.get(spec.generator)
    return record, resolve_params(record.params, spec.params, where=f"params[{spec.generator}]")


def build_dag(spec: ArchitectureSpec) -> Dag:
    """The DAG the spec describes; the same spec always gives the same DAG."""
    record, params = generator_params(spec)
    graph = record.invoke(GeneratorContext(nodes=spec.nodes, rng=rng(spec.seed, "graph"), spec=spec), params)
    return to_dag(graph)
