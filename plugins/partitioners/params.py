"""The built-in partitioners' parameters, apart from their code.

Registering a partitioner needs only its parameter model; its code (numba kernels, METIS)
takes 0.3 s to import, which every process that loads the plugins would pay, each worker
and each command, though most of them never partition (``parawire.plugins.partitioners``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class MultilevelParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tries: int = Field(4, ge=1, description="initial partitions per randomised algorithm (at least 120/n)")
    keep: int = Field(3, ge=1, description="best initial partitions that enter V-cycles")
    vcycles: int = Field(
        2, ge=0, description="V-cycles per kept partition (stops early; ≤ 1 for k = 2 above `large`)"
    )
    stall: int = Field(
        0, ge=0, description="FM moves without improvement before a pass stops; 0 = min(n/8 + 10, 150)"
    )
    large: int = Field(
        400, ge=1, description="above this many vertices: the best of a few METIS starts only"
    )


class MetisParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Literal["clique", "star"] = "clique"
