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


def graph_model(hg: Hypergraph, model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The clique or star expansion as CSR: ``xadj``, ``adjncy`` (ascending within each
    row) and float edge weights. Sparse because a dense n × n matrix was 200 MB and
    most of a call's time at 5000 vertices."""
    n = hg.num_vertices
    costs = hg.net_costs.astype(np.float64)
    rows, cols, values = _expand(hg.net_ptr, hg.net_pins, costs, model == "clique")
    keys = rows * n + cols
    order = np.argsort(keys, kind="stable")  # stable: sums add up in net order
    keys = keys[order]
    first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else keys
    sums = np.add.reduceat(values[order], first) if keys.size else values
    unique, sums = keys[first][sums > 0], sums[sums > 0]  # zero-cost nets add no edge
    xadj = np.searchsorted(unique // n, np.arange(n + 1))
    return xadj, unique % n, sums


@njit(cache=True)
def _expand(nptr, npins, costs, clique):
    """Every (u, v, weight) pair of the expansion, duplicates included."""
    total = 0
    for e in range(nptr.size - 1):
        size = nptr[e + 1] - nptr[e]
        total += size * (size - 1) if clique else 2 * (size - 1)
    rows = np.empty(total, np.int64)
    cols = np.empty(total, np.int64)
    values = np.empty(total)
    at = 0
    for e in range(nptr.size - 1):
        start, end = nptr[e], nptr[e + 1]
        if clique:
            w = costs[e] / (end - start - 1)
            for i in range(start, end):
                for j in range(start, end):
                    if i != j:
                        rows[at], cols[at], values[at] = npins[i], npins[j], w
                        at += 1
        else:  # star from the first (lowest) pin
            for i in range(start + 1, end):
                rows[at], cols[at], values[at] = npins[start], npins[i], costs[e]
                rows[at + 1], cols[at + 1], values[at + 1] = npins[i], npins[start], costs[e]
                at += 2
    return rows, cols, values


def metis_parts(hg: Hypergraph, k: int, eps: float, seed: int, model: str = "clique") -> np.ndarray:
    """METIS's own answer on the graph model, before any repair (``k`` < |V|)."""
    xadj, cols, values = graph_model(hg, model)
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
