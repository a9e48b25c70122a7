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
from parawire.network.halo import TileGrid, tile_grid
from parawire.network.shapes import Layout, layout


@dataclass(frozen=True, eq=False)
class Architecture:
    """The values of a generated network. ``tile_grid``, ``tile_thresholds`` and
    ``out_shapes`` are what the tile-parallel placement asks of any network (an imported
    model answers them from its trace, :class:`parawire.models.imported.ImportedModel`)."""

    spec: ArchitectureSpec
    dag: Dag
    layout: Layout
    costs: Costs

    def tile_grid(self, rows: int, cols: int, threshold: int, depth: int | None = None) -> TileGrid:
        return tile_grid(self.layout, rows, cols, threshold, depth)

    def tile_thresholds(self) -> list[int]:
        """Every map height of the vertices (the output's excepted), largest first."""
        dag = self.dag
        return sorted({int(self.layout.out_shape[v][1]) for v in dag.order if v != dag.output}, reverse=True)

    @property
    def out_shapes(self) -> np.ndarray:
        """(C, H, W) of every vertex's output."""
        return self.layout.out_shape


def assemble(spec: ArchitectureSpec, dag: Dag, staging_flags: np.ndarray) -> Architecture:
    """DAG + staging flags → layout → costs; the same inputs always give the same values."""
    shapes = layout(spec, dag, staging_flags)
    return Architecture(spec=spec, dag=dag, layout=shapes, costs=costs(shapes))
