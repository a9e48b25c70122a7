"""The ε sweep of paper §3.3: partition for each (units, ε), measure, score, pick the best.

The paper feeds the partitioner "a higher bound of ε" and scores each resulting
partition; it does not list the bounds. Our default set is ε ∈ {0.03, 0.1, 0.3}: 3 % is
hMETIS/KaHyPar's customary tight bound, 30 % lets the partitioner trade balance for
much less communication, and 10 % sits between. For each number of units the row with
the lowest score is marked best (ties: the smaller ε, i.e. the better balanced one).

U_c (see :mod:`parawire.score.metrics`) defaults to the smallest nonzero net cost of the
architecture; a study passes ``unit_comm`` to keep one constant across samples.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from parawire.errors import ParawireError
from parawire.pipeline.wire import wire_of
from parawire.registry.codecs import RAW_PLAN, CodecPlan
from parawire.registry.kinds import builtin
from parawire.registry.manager import get_plugins
from parawire.registry.records import PartitionContext, ScoreContext
from parawire.score.hypergraph import Hypergraph, hypergraph_of
from parawire.score.metrics import (
    ImbalanceWarning,
    Metrics,
    compute_metrics,
    longest_path_vertices,
    smallest_cost,
)

DEFAULT_EPS = (0.03, 0.1, 0.3)


@dataclass(frozen=True)
class ScoreRow:
    """One (units, ε) result: the partition, its metrics, its score, best-per-units flag."""

    units: int
    eps: float
    partitioner: str
    score_name: str
    score: float
    metrics: Metrics
    partition: tuple[int, ...]
    best: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["metrics"] = self.metrics.to_dict()
        return data


def score_architecture(
    arch: Any,
    units: Sequence[int],
    eps: Sequence[float] = DEFAULT_EPS,
    partitioner: str = builtin("multilevel"),
    score: str = builtin("cs"),
    seed: int | None = None,
    unit_comm: int | None = None,
    partitioner_params: dict[str, Any] | None = None,
    score_params: dict[str, Any] | None = None,
    input_policy: str = "stem",
    profile: Any = None,
    codecs: CodecPlan = RAW_PLAN,
) -> list[ScoreRow]:
    """Rows for every units × ε, in that order. ``arch`` is an Architecture or a
    ``(dag, costs)`` pair; ``seed`` defaults to the spec's seed (0 for a bare pair);
    ``input_policy`` sets what the input net costs (``parawire.score.hypergraph``);
    ``profile`` (a DeviceProfile) partitions by the time it predicts per vertex instead of
    FLOPs: the partition :func:`parawire.pipeline.placement.place_architecture` gives a run;
    ``codecs`` what each crossing sends (Λ, Λ′ and the score count encoded bytes)."""
    dag, costs = (arch.dag, arch.costs) if hasattr(arch, "dag") else arch
    if seed is None:
        seed = arch.spec.seed if hasattr(arch, "spec") else 0
    if not units or any(int(n) < 1 for n in units):
        raise ParawireError(f"units: got {list(units)!r}; give one or more unit counts ≥ 1")
    if not eps or any(not e >= 0 for e in eps):
        raise ParawireError(f"eps: got {list(eps)!r}; give one or more imbalance bounds ≥ 0")
    plugins = get_plugins()
    part_record = plugins.partitioners.get(partitioner)
    score_record = plugins.scores.get(score)
    part_params = part_record.resolve(partitioner_params)
    s_params = score_record.resolve(score_params)
    if (input_policy != "stem" or codecs != RAW_PLAN) and not hasattr(arch, "spec"):
        raise ParawireError(f"input policy {input_policy!r} and codec {codecs.label!r} need an Architecture"
                            " (its input shape); a bare (dag, costs) pair is scored as stem, raw")
    hg = hypergraph_of(arch, input_policy, profile, wire=wire_of(arch, codecs)) if hasattr(arch, "spec") else Hypergraph.from_dag(
        dag, costs.flops, costs.out_bytes)
    uc = smallest_cost(hg) if unit_comm is None else unit_comm
    longest = longest_path_vertices(dag)
    rows: list[ScoreRow] = []
    for n in units:
        group: list[ScoreRow] = []
        for e in eps:
            with warnings.catch_warnings():  # imbalance is reported in the row instead
                warnings.simplefilter("ignore", ImbalanceWarning)
                parts = part_record.invoke(PartitionContext(hg, int(n), float(e), seed, dag=dag), part_params)
            metrics = compute_metrics(
                hg, parts, int(n), eps=float(e), longest_path=longest, unit_comm=uc
            )
            context = ScoreContext(parts, hg, dag, metrics, int(n), float(e))
            value = score_record.invoke(context, s_params)
            group.append(
                ScoreRow(int(n), float(e), partitioner, score, value, metrics,
                         tuple(int(p) for p in parts))
            )
        best = min(range(len(group)), key=lambda i: (group[i].score, group[i].eps))
        group[best] = ScoreRow(**{**group[best].__dict__, "best": True})
        rows.extend(group)
    return rows
