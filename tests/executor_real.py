"""Small real architectures for the executor tests: one per generator, and their partitions."""

from __future__ import annotations

from functools import cache

import torch
from parawire.executor.plan import Plan, plan_for
from parawire.graph.spec import ArchitectureSpec
from parawire.network.nn import build_network
from parawire.pipeline.build import build_architecture
from parawire.pipeline.placement import partition_architecture

GENERATORS = ("er", "ba", "ws", "dp", "chain", "fb")
UNITS = (1, 2, 4)


def small_spec(generator: str) -> ArchitectureSpec:
    params = {"stages": 2} if generator == "fb" else {}
    return ArchitectureSpec(generator=generator, params=params, nodes=12, input_shape=(3, 16, 16),
                            base_channels=8)


@cache
def case(generator: str, units: int) -> tuple[ArchitectureSpec, Plan, torch.Tensor, torch.Tensor]:
    """Spec, plan, input and the single-process logits."""
    import warnings

    spec = small_spec(generator)
    arch = build_architecture(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # imbalance on tiny nets is fine here
        plan = plan_for(arch, partition_architecture(arch, units), units=units)
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(units))
    with torch.inference_mode():
        reference = build_network(arch).eval()(x)
    return spec, plan, x, reference
