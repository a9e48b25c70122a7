"""Built-in score: ``cs``, the paper's concurrency score (eq. 4).

CS = ∛(δ_W^a · Λ′^b · η^c), a = c = 1 and b = 1.5 by default (communication weighs
most). Lower is better. When a partition cuts nothing (Λ′ = 0, e.g. k disjoint chains
on k units) the product, hence CS, is 0: the best possible score, which is what such an
architecture deserves.
"""

from __future__ import annotations

from parawire.plugin import Metrics, ScorePlugin, hookimpl
from pydantic import BaseModel, ConfigDict, Field


class CsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    a: float = Field(1.0, ge=0, description="exponent of the imbalance δ_W")
    b: float = Field(1.5, ge=0, description="exponent of the normalised communication Λ′")
    c: float = Field(1.0, ge=0, description="exponent of the overlap η")


def concurrency_score(metrics: Metrics, params: CsParams | None = None) -> float:
    """CS from the metrics alone (the other :class:`~parawire.plugin.ScoreContext`
    fields are not needed, so they are not declared)."""
    params = params or CsParams()
    product = metrics.imbalance**params.a * metrics.lambda_norm**params.b * metrics.eta**params.c
    return float(product ** (1.0 / 3.0))


@hookimpl
def parawire_scores():
    return [
        ScorePlugin(
            name="cs",
            summary="concurrency score ∛(δ_W^a·Λ′^b·η^c), lower is better",
            params=CsParams,
            score=concurrency_score,
        )
    ]
