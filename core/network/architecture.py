"""One architecture as plain values: spec, DAG, shapes and costs (no torch).

Everything downstream (hypergraph, scores, the torch module, the executor) starts from
an :class:`Architecture`; building one is cheap enough for studies of thousands.
Building one from a spec alone needs the installed generator and staging plugins, so
that lives a layer up, in :func:`parawire.pipeline.build.build_architecture`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from parawire.graph.dag import Dag
from parawire.graph.spec import ArchitectureSpec
from parawire.network.cost import Costs, costs
from parawire.network.shapes import Layout, layout


@dataclass(frozen=True, eq=False)
class Architecture:
    spec: ArchitectureSpec
    dag: Dag
    layout: Layout
    costs: Costs


def assemble(spec: ArchitectureSpec, dag: Dag, staging_flags: np.ndarray) -> Architecture:
    """DAG + staging flags → layout → costs; the same inputs always give the same values."""
    shapes = layout(spec, dag, staging_flags)
    return Architecture(spec=spec, dag=dag, layout=shapes, costs=costs(shapes))
