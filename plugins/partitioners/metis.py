"""``metis``: pymetis on a graph model of the hypergraph, then a balance repair.

METIS partitions graphs, not hypergraphs, so the hypergraph is modelled as a graph:

* ``clique`` (default): every net becomes a clique, each pair weighted cost/(|e|−1),
  the usual expansion whose cut approximates km1 for small nets;
* ``star``: every net becomes a star from its first pin (fewer edges, cruder).

METIS only approximately honours its imbalance factor and optimises the graph cut, so
afterwards the shared repair moves vertices out of overweight units by least km1
damage, and the quality that matters is km1 on the hypergraph (what Metrics reports).

pymetis quirks handled here: integer weights only (both are rescaled into a safe int32
range, zero vertex weights become 1 so METIS sees every vertex), k = 1 and k ≥ |V|
never reach METIS, and a graph without edges is split by weight alone.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pymetis
from numba import njit
from parawire.hypergraph import Hypergraph
from parawire.plugins.partitioners.initial import heaviest_first
from parawire.plugins.partitioners.kway import check_args, repaired, trivial_partition
from parawire.rng import derived_seed
from pydantic import BaseModel, ConfigDict

SCALE = 1_000_000  # total vertex weight and largest edge weight METIS sees


class MetisParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Literal["clique", "star"] = "clique"


def graph_model(
    hg: Hypergraph, model: str, clique_max: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The clique or star expansion as CSR: ``xadj``, ``adjncy`` (ascending within each
    row) and float edge weights. Sparse because a dense n × n matrix was 200 MB and
    most of a call's time at 5000 vertices.

    ``clique_max`` (clique model only): nets with more pins become stars from their
    producer, each edge weighted cost/(|e|−1) like a clique pair. A DP model's 833-pin
    net was 700k of its 710k clique edges, made METIS 10× slower, and priced a balanced
    split of that one net at ≈ 208× its cost, so METIS kept it whole at any price."""
    n = hg.num_vertices
    costs = hg.net_costs.astype(np.float64)
    centre = hg.net_pins[hg.net_ptr[:-1]]  # the lowest pin
    if model == "clique" and hg.net_sources is not None:
        centre = hg.net_sources
    limit = -1 if model == "star" else (clique_max or hg.net_pins.size)
    rows, cols, values = _expand(hg.net_ptr, hg.net_pins, costs, centre, limit)
    keys = rows * n + cols
    order = np.argsort(keys, kind="stable")  # stable: sums add up in net order
    keys = keys[order]
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else keys
    sums = np.add.reduceat(values[order], first) if keys.size else values
    unique, sums = keys[first][sums > 0], sums[sums > 0]  # zero-cost nets add no edge
    xadj = np.searchsorted(unique // n, np.arange(n + 1))
    return xadj, unique % n, sums


@njit(cache=True)
def _expand(nptr, npins, costs, centre, clique_max):
    """Every (u, v, weight) pair of the expansion, duplicates included: nets of up to
    ``clique_max`` pins as cliques (pairs cost/(|e|−1)), larger ones as stars from
    ``centre`` (edges cost/(|e|−1)); ``clique_max`` < 0: the star model (edges cost)."""
    total = 0
    for e in range(nptr.size - 1):
        size = nptr[e + 1] - nptr[e]
        total += size * (size - 1) if size <= clique_max else 2 * size
    rows = np.empty(total, np.int64)
    cols = np.empty(total, np.int64)
    values = np.empty(total)
    at = 0
    for e in range(nptr.size - 1):
        start, end = nptr[e], nptr[e + 1]
        w = costs[e] / (end - start - 1)
        if end - start <= clique_max:
            for i in range(start, end):
                for j in range(start, end):
                    if i != j:
                        rows[at], cols[at], values[at] = npins[i], npins[j], w
                        at += 1
        else:
            if clique_max < 0:
                w = costs[e]
            c = centre[e]
            for i in range(start, end):
                if npins[i] != c:
                    rows[at], cols[at], values[at] = c, npins[i], w
                    rows[at + 1], cols[at + 1], values[at + 1] = npins[i], c, w
                    at += 2
    return rows[:at], cols[:at], values[:at]


def metis_parts(
    hg: Hypergraph, k: int, eps: float, seed: int, model: str = "clique", *,
    clique_max: int | None = None, recursive: bool = False, graph: tuple | None = None,
) -> np.ndarray:
    """METIS's own answer on the graph model, before any repair (``k`` < |V|).

    ``recursive``: METIS's recursive bisection instead of its direct k-way; ``graph``:
    a :func:`graph_model` already built (callers that run METIS several times)."""
    xadj, cols, values = graph or graph_model(hg, model, clique_max)
    weights = hg.vertex_weights
    if not values.size:
        return heaviest_first(weights, k)
    eweights = np.maximum(np.rint(values / values.max() * SCALE), 1).astype(np.int64)
    total = max(int(weights.sum()), 1)
    vweights = np.maximum(np.rint(weights / total * SCALE), 1).astype(np.int64)
    options = pymetis.Options(
        seed=derived_seed(seed, "metis") % 2**31, ufactor=max(1, int(eps * 1000))
    )
    if hasattr(pymetis, "CSRAdjacency"):  # pymetis ≥ 2025.2 deprecates xadj/adjncy
        graph = {"adjacency": pymetis.CSRAdjacency(xadj, cols)}
    else:
        graph = {"xadj": xadj, "adjncy": cols}
    _, membership = pymetis.part_graph(
        k,
        **graph,
        vweights=vweights,
        eweights=eweights,
        options=options,
        recursive=recursive,
    )
    return np.asarray(membership, dtype=np.int64)


def partition(
    hypergraph: Hypergraph, k: int, eps: float, seed: int, params: MetisParams | None = None
) -> np.ndarray:
    params = params or MetisParams()
    check_args(hypergraph, k, eps)
    fixed = trivial_partition(hypergraph, k, eps, "metis")
    if fixed is not None:
        return fixed
    return repaired(hypergraph, k, eps, metis_parts(hypergraph, k, eps, seed, params.model), "metis")
