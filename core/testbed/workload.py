"""What ``testbed run`` measures: a generated architecture or an imported model.

The testbed cannot import :mod:`parawire.models` (a layer on its own line), so an
imported model arrives as a :class:`Workload` the caller built
(:func:`parawire.cli.models.model_workload`): the architecture the partitioner and the
latency model read, the module whose output every point is checked against, how a plan
of it reaches the workers, and which factory the devices' workers may import. A
generated architecture is one too (:func:`spec_workload`), so both take the same path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Workload:
    """``arch``: ``dag``, ``costs`` and a ``spec`` with ``input_shape`` and ``seed``;
    ``net``: the same computation in this process; ``deploy(cluster, plan, engine)``;
    ``allow_models``: the factory references the workers may import (``--allow-model``);
    ``describe``: what the record says was measured."""

    arch: Any
    net: Any
    deploy: Callable[[Any, Any, str], None]
    describe: dict
    allow_models: tuple[str, ...] = ()


def spec_workload(spec) -> Workload:  # type: ignore[no-untyped-def]
    """A generated architecture (an :class:`~parawire.graph.spec.ArchitectureSpec`)."""
    from parawire.network.nn import build_network
    from parawire.pipeline.build import build_architecture

    arch = build_architecture(spec)

    def deploy(cluster, plan, engine: str) -> None:  # type: ignore[no-untyped-def]
        cluster.deploy(spec, plan, engine=engine)

    # the whole spec: a record then rebuilds the network it measured (staging, widths and
    # parameters too), as benchmarks/testbed_resimulate.py does
    return Workload(arch, build_network(arch).eval(), deploy, spec.model_dump(mode="json"))
