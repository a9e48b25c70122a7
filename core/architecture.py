"""One architecture as plain values: spec, DAG, shapes and costs (no torch).

Everything downstream (hypergraph, scores, the torch module, the executor) starts from
an :class:`Architecture`; building one is cheap enough for studies of thousands.
"""

from __future__ import annotations

from dataclasses import dataclass

from parawire.build import build_dag
from parawire.cost import Costs, costs
from parawire.dag import Dag
from parawire.shapes import Layout, layout
from parawire.spec import ArchitectureSpec


@dataclass(frozen=True, eq=False)
class Architecture:
    spec: ArchitectureSpec
    dag: Dag
    layout: Layout
    costs: Costs


def build_architecture(spec: ArchitectureSpec) -> Architecture:
    """Spec → DAG → layout → costs; the same spec always gives the same values."""
    dag = build_dag(spec)
    shapes = layout(spec, dag)
    return Architecture(spec=spec, dag=dag, layout=shapes, costs=costs(shapes))
