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
never reach METIS, a graph without edges is split by weight alone, and a vertex too
heavy to share a unit weighs one unit's share (:func:`heavy_as_one_share`).
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from contextlib import contextmanager

import numpy as np
import pymetis
from numba import njit
from parawire.graph.seeds import derived_seed
from parawire.plugins.partitioners.initial import heaviest_first
from parawire.plugins.partitioners.kway import check_args, repaired, trivial_partition
from parawire.plugins.partitioners.params import MetisParams
from parawire.score.hypergraph import Hypergraph

SCALE = 1_000_000  # total vertex weight and largest edge weight METIS sees
MAX_EPS = 0.5
"""The most imbalance METIS is allowed (its ``ufactor`` 500): with more, its bisections
put whole sides on nothing ("Cannot bisect a graph with 0 vertices!" on the terminal at
ε = 1 or 5, 64 units); the repair holds the partition to the caller's ε anyway."""


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
    costs = hg.net_costs.astype(np.float64)
    centre = hg.net_pins[hg.net_ptr[:-1]]  # the lowest pin
    if model == "clique" and hg.net_sources is not None:
        # a star's centre must be a pin of its net, or the expansion is not symmetric (an
        # edge from each pin to a vertex whose own row never sees the net), which made
        # METIS corrupt memory: under "scatter" the input net's producer is not one of its pins
        net_of_pin = np.repeat(np.arange(hg.net_ptr.size - 1), np.diff(hg.net_ptr))
        own = np.zeros(hg.net_ptr.size - 1, dtype=bool)
        own[net_of_pin[hg.net_pins == hg.net_sources[net_of_pin]]] = True
        centre = np.where(own, hg.net_sources, centre)
    limit = -1 if model == "star" else (clique_max or hg.net_pins.size)
    return _adjacency(hg.net_ptr, hg.net_pins, hg.vertex_ptr, hg.vertex_nets, costs, centre, limit)


@njit(cache=True)
def _adjacency(nptr, npins, vptr, vnets, costs, centre, clique_max):
    """The expansion's CSR, row by row: nets of up to ``clique_max`` pins as cliques
    (pairs cost/(|e|−1)), larger ones as stars from ``centre`` (edges cost/(|e|−1));
    ``clique_max`` < 0: the star model (edges cost). A row adds its nets in net order
    and keeps positive sums only (zero-cost nets add no edge). Summing per row with a
    scratch array, not sorting all pairs: the sort of ≈ 1M pairs was most of a
    5000-vertex BA model's METIS start."""
    n = vptr.size - 1
    bound = 0
    for u in range(n):
        for j in range(vptr[u], vptr[u + 1]):
            e = vnets[j]
            size = nptr[e + 1] - nptr[e]
            bound += size if size <= clique_max or centre[e] == u else 1
    xadj = np.zeros(n + 1, np.int64)
    adjncy = np.empty(bound, np.int64)
    weights = np.empty(bound)
    total = np.zeros(n)
    touched = np.zeros(n, np.bool_)
    row = np.empty(n, np.int64)
    at = 0
    for u in range(n):
        count = 0
        for j in range(vptr[u], vptr[u + 1]):
            e = vnets[j]
            start, end = nptr[e], nptr[e + 1]
            w = costs[e] if clique_max < 0 else costs[e] / (end - start - 1)
            if end - start <= clique_max or centre[e] == u:
                for i in range(start, end):
                    v = npins[i]
                    if v != u:
                        if not touched[v]:
                            touched[v] = True
                            row[count] = v
                            count += 1
                        total[v] += w
            else:
                v = centre[e]
                if not touched[v]:
                    touched[v] = True
                    row[count] = v
                    count += 1
                total[v] += w
        for v in np.sort(row[:count]):
            if total[v] > 0:
                adjncy[at] = v
                weights[at] = total[v]
                at += 1
            total[v] = 0.0
            touched[v] = False
        xadj[u + 1] = at
    return xadj, adjncy[:at].copy(), weights[:at].copy()


def heavy_as_one_share(weights: np.ndarray, k: int) -> np.ndarray:
    """``weights`` with every vertex too heavy to share a unit (heavier than an even
    share of what the lighter ones leave to the other units) lowered to that share.

    Such a vertex fills a unit whatever METIS does; weighed as it is, METIS's bisection
    cannot split the rest (it printed "Cannot bisect a graph with 0 vertices!" and "too
    many parts" on the terminal and left units empty for the repair to fill)."""
    order = np.argsort(-weights, kind="stable")
    rest, heavy = int(weights.sum()), 0
    while heavy < k - 1 and int(weights[order[heavy]]) * (k - heavy) > rest:
        rest -= int(weights[order[heavy]])
        heavy += 1
    if not heavy:
        return weights
    lowered = weights.copy()
    lowered[order[:heavy]] = max(-(-rest // (k - heavy)), 1)
    return lowered


def metis_parts(
    hg: Hypergraph, k: int, eps: float, seed: int, model: str = "clique", *,
    clique_max: int | None = None, recursive: bool | None = None, graph: tuple | None = None,
) -> np.ndarray:
    """METIS's own answer on the graph model, before any repair (``k`` < |V|).

    ``recursive``: METIS's recursive bisection (True) or its direct k-way (False);
    None is pymetis's choice, recursive up to 8 parts. ``graph``: a
    :func:`graph_model` already built (callers that run METIS several times)."""
    xadj, cols, values = graph or graph_model(hg, model, clique_max)
    weights = heavy_as_one_share(hg.vertex_weights, k)
    if not values.size:
        return heaviest_first(weights, k)
    eweights = np.maximum(np.rint(values / values.max() * SCALE), 1).astype(np.int64)
    total = max(int(weights.sum()), 1)
    vweights = np.maximum(np.rint(weights / total * SCALE), 1).astype(np.int64)
    options = pymetis.Options(
        seed=derived_seed(seed, "metis") % 2**31, ufactor=max(1, int(min(eps, MAX_EPS) * 1000))
    )
    if hasattr(pymetis, "CSRAdjacency"):  # pymetis ≥ 2025.2 deprecates xadj/adjncy
        graph = {"adjacency": pymetis.CSRAdjacency(xadj, cols)}
    else:
        graph = {"xadj": xadj, "adjncy": cols}
    with _stdout_silenced():
        _, membership = pymetis.part_graph(
            k,
            **graph,
            vweights=vweights,
            eweights=eweights,
            options=options,
            recursive=recursive,
        )
    return np.asarray(membership, dtype=np.int64)


_SILENCE = threading.Lock()
_LIBC = ctypes.CDLL(None)


@contextmanager
def _stdout_silenced():
    """The process's stdout (descriptor 1) sent to /dev/null while METIS runs.

    METIS reports a bisection it cannot balance with ``printf`` ("Cannot bisect a graph
    with 0 vertices!", "You are trying to partition a graph into too many parts!"): in a
    quarter of random instances with fewer weighted vertices than parts (measured on
    1,222), and the text lands in the caller's output, inside ``--json`` documents too.
    It is no error (METIS still returns a partition, which the repair completes), so it is
    dropped: C's buffer is flushed before the descriptor comes back. The redirection is
    process-wide, hence the lock; Python's own buffer is flushed first, so no text of
    the caller's is lost."""
    with _SILENCE:
        sys.stdout.flush()
        saved = os.dup(1)
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
            yield
        finally:
            _LIBC.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
            os.close(null)


def partition(
    hypergraph: Hypergraph, k: int, eps: float, seed: int, params: MetisParams | None = None
) -> np.ndarray:
    params = params or MetisParams()
    check_args(hypergraph, k, eps)
    fixed = trivial_partition(hypergraph, k, eps, "metis")
    if fixed is not None:
        return fixed
    return repaired(hypergraph, k, eps, metis_parts(hypergraph, k, eps, seed, params.model), "metis")
