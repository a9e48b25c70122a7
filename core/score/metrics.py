"""The metrics of one partition (paper §3.3, eqs. 2–3, appendix Figure 12).

* δ_W: max part weight / average part weight (1 = perfect balance).
* Λ (eq. 3): Σ over nets of cost·(λ−1), λ = units the net touches: bytes sent.
* Λ′ = Λ / (U_c·n). U_c is "the smallest amount of communication for an edge in a
  generator". We default it to the smallest nonzero net cost of the hypergraph being
  scored (per architecture), and take it as a parameter so a study can fix one constant
  for every sample — scores of different samples are only comparable with one U_c.
* η (eq. 2): vertices on the longest input→output path (both ends counted) over |V|/n,
  |V| = every DAG vertex including input and output. A chain gives η = n for any
  partition; η does not depend on the partition at all.
* entropy: normalised Shannon entropy of the unit loads, 1 = perfectly balanced.
* balanced: max part weight ≤ (1+ε)·⌈W/k⌉, the limit every partitioner honours.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import networkx as nx
import numpy as np
from parawire.errors import ParawireError
from parawire.graph.dag import Dag
from parawire.score.hypergraph import Hypergraph


class ImbalanceWarning(UserWarning):
    """A partitioner could not meet the balance limit (e.g. one vertex heavier than it)."""


def balance_limit(total_weight: int, k: int, eps: float) -> int:
    """Largest allowed part weight: ⌊(1+ε)·⌈W/k⌉⌋ (the KaHyPar/hMETIS convention).

    No part can weigh more than the total, so a larger limit bounds nothing and is the
    total weight: an ε so large that the product overflows a float (``--eps 1e308``) or
    int64 (``--eps 1e12``: the numba refinement and the greedy partitioner failed with
    "Int value is too large") then means what it says, no bound."""
    limit = (1.0 + eps) * math.ceil(total_weight / k) + 1e-9
    return min(math.floor(limit), int(total_weight)) if math.isfinite(limit) else int(total_weight)


def part_weights(hg: Hypergraph, partition: np.ndarray, k: int) -> np.ndarray:
    """Exact int64 sums (bincount's float weights would round FLOP counts)."""
    weights = np.zeros(k, dtype=np.int64)
    np.add.at(weights, partition, hg.vertex_weights)
    return weights


def connectivity(hg: Hypergraph, partition: np.ndarray, k: int) -> np.ndarray:
    """λ of every net: how many distinct units its pins lie in."""
    keys = hg.pin_nets() * k + partition[hg.net_pins]
    touched = np.bincount(keys, minlength=hg.num_nets * k).reshape(hg.num_nets, k) > 0
    return touched.sum(axis=1)


def km1(hg: Hypergraph, partition: np.ndarray, k: int) -> int:
    """Λ = Σ cost·(λ−1) (eq. 3), vectorised."""
    if hg.num_nets == 0:
        return 0
    return int(np.dot(hg.net_costs, connectivity(hg, partition, k) - 1))


def check_partition(hg: Hypergraph, partition: np.ndarray, k: int) -> np.ndarray:
    """The partition as an int64 array, or a one-line error saying what is wrong."""
    parts = np.asarray(partition, dtype=np.int64)
    if parts.shape != (hg.num_vertices,):
        raise ParawireError(
            f"partition: got {parts.size} entries for {hg.num_vertices} vertices"
        )
    if parts.size and (parts.min() < 0 or parts.max() >= k):
        raise ParawireError(f"partition: units must be 0..{k - 1}, got {parts.min()}..{parts.max()}")
    return parts


def is_valid(hg: Hypergraph, partition: np.ndarray, k: int) -> bool:
    """Every vertex in one unit 0..k-1, and no empty unit when there are ≥ k vertices."""
    parts = np.asarray(partition)
    if parts.shape != (hg.num_vertices,) or (parts.size and (parts.min() < 0 or parts.max() >= k)):
        return False
    return hg.num_vertices < k or len(np.unique(parts)) == k


def longest_path_vertices(dag: Dag) -> int:
    """Vertices on the longest input→output path, both ends included."""
    return int(nx.dag_longest_path_length(dag.graph)) + 1


def smallest_cost(hg: Hypergraph) -> int:
    """The default U_c: the smallest nonzero net cost (1 if every net is free)."""
    nonzero = hg.net_costs[hg.net_costs > 0]
    return int(nonzero.min()) if nonzero.size else 1


def load_entropy(weights: np.ndarray) -> float:
    """Shannon entropy of the unit loads divided by log k: 1 = perfect balance."""
    k = weights.size
    total = weights.sum()
    if k <= 1 or total <= 0:
        return 1.0
    p = weights[weights > 0] / total
    return float(-(p * np.log(p)).sum() / math.log(k))


@dataclass(frozen=True)
class Metrics:
    """Everything the score needs about one (architecture, k, ε) partition."""

    k: int
    eps: float
    part_weights: tuple[int, ...]
    imbalance: float
    km1: int
    unit_comm: int
    lambda_norm: float
    longest_path: int
    num_vertices: int
    eta: float
    entropy: float
    limit: int
    balanced: bool

    def to_dict(self) -> dict:
        return asdict(self)


def compute_metrics(
    hg: Hypergraph,
    partition: np.ndarray,
    k: int,
    *,
    eps: float,
    longest_path: int,
    num_vertices: int | None = None,
    unit_comm: int | None = None,
) -> Metrics:
    """All metrics of ``partition``; ``longest_path`` from :func:`longest_path_vertices`."""
    parts = check_partition(hg, partition, k)
    uc = smallest_cost(hg) if unit_comm is None else int(unit_comm)
    if uc <= 0:
        raise ParawireError(f"unit_comm: got {uc}; U_c must be a positive number of bytes")
    nv = hg.num_vertices if num_vertices is None else num_vertices
    weights = part_weights(hg, parts, k)
    total = int(weights.sum())
    average = total / k
    limit = balance_limit(total, k, eps)
    lam = km1(hg, parts, k)
    return Metrics(
        k=k,
        eps=eps,
        part_weights=tuple(int(w) for w in weights),
        imbalance=float(weights.max() / average) if total > 0 else 1.0,
        km1=lam,
        unit_comm=uc,
        lambda_norm=lam / (uc * k),
        longest_path=longest_path,
        num_vertices=nv,
        eta=longest_path / (nv / k),
        entropy=load_entropy(weights),
        limit=limit,
        balanced=bool(weights.max() <= limit),
    )


def warn_if_unbalanced(
    hg: Hypergraph, partition: np.ndarray, k: int, eps: float, who: str, stacklevel: int = 3,
    attributed: bool = False,
) -> None:
    """The partitioners' way to say "could not meet the limit" without changing the
    ``partition(...) -> array`` contract: an :class:`ImbalanceWarning`. Metrics carry
    the same fact as ``balanced`` so tables show it too. When one vertex outweighs the
    limit the warning says so: then it is the instance, not the partitioner, to change.
    ``attributed``: the warning names ``who`` as its origin instead of a line of code (the
    registry's check of every partition: shown under a command, a line of parawire's code
    reads like a traceback, and the user can act on the partitioner or the instance only)."""
    weights = part_weights(hg, partition, k)
    limit = balance_limit(hg.total_weight, k, eps)
    if weights.max() > limit:
        heaviest = int(hg.vertex_weights.argmax())
        why = (f"no partition can meet it: vertex {heaviest} alone weighs {int(hg.vertex_weights[heaviest])}"
               if hg.vertex_weights[heaviest] > limit else "the balance limit could not be met")
        message = f"{who}: heaviest unit weighs {int(weights.max())} > limit {limit} for k={k}, eps={eps}; {why}"
        if attributed:
            warnings.warn_explicit(message, ImbalanceWarning, filename=f"<{who}>", lineno=0,
                                   module="parawire.partitioners")
        else:
            warnings.warn(message, ImbalanceWarning, stacklevel=stacklevel)
