"""Placement for runs: the paper's partition, or the latency model's schedule."""

from __future__ import annotations

import numpy as np
import pytest
from parawire.errors import ParawireError
from parawire.graph.spec import ArchitectureSpec
from parawire.latency.model import DeviceProfile, simulate
from parawire.pipeline.build import build_architecture
from parawire.pipeline.placement import place_architecture

# a slow shaped link beside quarter-core compute: what the testbed emulates
SLOW_LINK = DeviceProfile(name="slow", flops_per_s=1e10, bandwidth_bytes_per_s=12e6, message_latency_s=2e-4,
                          weight_bytes_per_s=4e9, burst_bytes=32e3, network="switched")


def predicted(arch, part, policy="stem") -> float:
    c = arch.costs
    return simulate(arch.dag, c.flops, c.out_bytes, part, SLOW_LINK, policy="ready", params=c.params,
                    input_policy=policy)


@pytest.mark.parametrize("generator", ["dp", "er", "fb"])
@pytest.mark.parametrize("policy", ["stem", "scatter"])
def test_the_schedule_is_never_predicted_slower_than_the_partition_or_one_unit(generator, policy):
    arch = build_architecture(ArchitectureSpec(generator=generator, nodes=20, seed=3, input_shape=(3, 32, 32)))
    partition = place_architecture(arch, 4, SLOW_LINK, "partition", input_policy=policy)
    schedule = place_architecture(arch, 4, SLOW_LINK, "schedule", input_policy=policy)
    assert schedule.shape == partition.shape and set(schedule.tolist()) <= {0, 1, 2, 3}
    one = np.zeros_like(partition)
    assert predicted(arch, schedule, policy) <= min(predicted(arch, partition, policy), predicted(arch, one, policy))
    assert place_architecture(arch, 4, SLOW_LINK, "schedule", input_policy=policy).tolist() == schedule.tolist()


def test_one_unit_and_a_bad_name():
    arch = build_architecture(ArchitectureSpec(generator="dp", nodes=12, input_shape=(3, 16, 16)))
    assert place_architecture(arch, 1, SLOW_LINK, "schedule").tolist() == [0] * arch.dag.graph.number_of_nodes()
    with pytest.raises(ParawireError, match=r"^placement: got 'heft'; use one of partition, schedule, hybrid, auto$"):
        place_architecture(arch, 2, SLOW_LINK, "heft")
