"""Built-in staging policies (paper §3.2): where a conv block halves the spatial size
and doubles the channels.

Each policy returns one flag per DAG vertex (``True``: vertex v's block stages). The
cap rule is shared (:func:`parawire.network.shapes.cap_stages`): a block may stage only while
the channels entering it are below ``spec.channel_cap``, and staging doubles them up to
the cap. The input (stem) and output vertices never stage. ``fb`` DAGs carry their own
RandWire stage marks, which replace the policy (see :func:`parawire.pipeline.build.stage_flags`).
"""

from __future__ import annotations

import numpy as np
from parawire.network.shapes import cap_stages
from parawire.registry.hookspecs import hookimpl
from parawire.registry.records import NoParams, StagingPlugin
from pydantic import BaseModel, ConfigDict, Field


class ProbabilisticParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p: float = Field(0.5, ge=0.0, le=1.0, description="probability that a block stages")


def uniform(dag, spec, params, rng) -> np.ndarray:
    """Never stage: every block keeps the base channels and the stem's spatial size."""
    return np.zeros(dag.nodes + 2, dtype=bool)


def greedy(dag, spec, params, rng) -> np.ndarray:
    """Stage after every conv block while below the cap."""
    return cap_stages(dag, spec, lambda v: True)


def probabilistic(dag, spec, params, rng) -> np.ndarray:
    """Stage with probability ``p`` while below the cap.

    One coin per vertex id is drawn up front, so a vertex's coin does not depend on
    which other vertices happened to be below the cap.
    """
    coins = rng.random(dag.nodes + 2) < params.p
    return cap_stages(dag, spec, lambda v: bool(coins[v]))


@hookimpl
def parawire_staging_policies():
    return [
        StagingPlugin(
            name="uniform",
            summary="no staging: one channel count, no downsampling (Table 1)",
            params=NoParams,
            assign=uniform,
        ),
        StagingPlugin(
            name="greedy",
            summary="stage (halve H×W, double channels) after every block below the cap",
            params=NoParams,
            assign=greedy,
        ),
        StagingPlugin(
            name="probabilistic",
            summary="stage with probability p (default 0.5) while below the cap",
            params=ProbabilisticParams,
            assign=probabilistic,
        ),
    ]
