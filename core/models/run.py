"""One inference of an imported model on local workers, compared with the model itself.

The Python API behind ``parawire run --model … --local --json``'s correctness figures:
partition, plan, start workers allowed to build this one factory, deploy (weights as
safetensors), infer, and compare with the unmodified module in this process.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from parawire.errors import ParawireError
from parawire.executor.plan import Plan
from parawire.registry.kinds import builtin


@dataclass(frozen=True)
class ModelRun:
    output: torch.Tensor
    max_abs_diff: float
    bytes_per_inference: float
    plan: Plan

    @property
    def cut_bytes(self) -> int | None:
        """Λ of the partition: what ``bytes_per_inference`` must equal."""
        return self.plan.cut_bytes


def run_model(imported, units: int = 2, *, transport: str = builtin("zmq"), endpoint_kind: str = "ipc",
              in_threads: bool = False, partitioner: str = builtin("multilevel"), eps: float = 0.03,
              partition=None, x: torch.Tensor | None = None, timeout: float = 30.0,
              engine: str | None = None, profile: str = "local",
              placement: str = "partition") -> ModelRun:  # type: ignore[no-untyped-def]
    """Run ``imported`` (an :class:`~parawire.models.ImportedModel`) on ``units`` local workers,
    on one image ``x`` of shape (1, C, H, W) (default: the sample image);
    ``timeout`` bounds every wait: the workers' start-up, the deployment, the answer;
    ``engine``: ``torch`` (None) or ``onnxruntime`` (:mod:`parawire.models.onnx`).

    Without a ``partition`` the blocks are placed as ``parawire run --model`` places them
    (:func:`~parawire.executor.tiles.placed_plan`, ``placement``: ``partition`` by default;
    ``schedule``, ``hybrid`` (tiles, docs/models.md) or ``auto`` as ``--placement``), balancing the
    time ``profile`` (default ``local``, measured once per engine and cached) predicts for
    each block on ``engine``, not its FLOPs: time is what a run waits for, and docs/models.md
    promises one partition for the API, ``run`` and ``score`` (issue 25: balancing FLOPs, an
    EfficientNet-like model at 2 units moved 147,456 bytes per inference, ``run`` 16,384).
    More ``units`` than the model has blocks are refused as ``run`` refuses them."""
    from parawire.executor.coordinator import Cluster
    from parawire.executor.local import LocalWorkers
    from parawire.executor.plan import plan_for
    from parawire.executor.tiles import placed_plan
    from parawire.models.deploy import deploy_model, deployment_builder, model_profile
    from parawire.models.imported import sample_input
    from parawire.pipeline.placement import check_placement, check_units
    from parawire.score.hypergraph import image_bytes

    check_units([units], imported.dag.nodes, option="units")
    x = sample_input(imported.spec) if x is None else x
    one = (1, *imported.spec.input_shape)
    if tuple(x.shape) != one:
        raise ParawireError(f"x: shape {tuple(x.shape)}; run_model runs one image of the model's input_shape,"
                            f" {one} (its costs, Λ and the workers' ONNX sessions are per image): run a batch"
                            " image by image")
    if partition is None:
        timing = model_profile(profile, engine or builtin("torch"))
        plan = placed_plan(imported, units, timing, check_placement(placement), partitioner, eps)
    else:
        plan = plan_for(imported, partition, units=units)
    with torch.inference_mode():
        reference = imported.model(x.clone())
    with LocalWorkers(units, transport, endpoint_kind, in_threads=in_threads, startup_timeout=timeout,
                      allow_models=[imported.spec.factory],
                      builder=deployment_builder([imported.spec.factory]) if in_threads else None) as workers, \
            Cluster.connect(workers.endpoints, transport, timeout=timeout) as cluster:
        deploy_model(cluster, imported, plan, engine=engine, timeout=timeout)
        out = cluster.infer(x)
        stats = cluster.stats()
    # what Λ counts: between workers, and a tiling's crops beyond one image
    return ModelRun(out, float((out - reference).abs().max()), stats.lambda_bytes(image_bytes(imported)), plan)
