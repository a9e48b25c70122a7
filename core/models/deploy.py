"""How a worker obtains its blocks of an imported model: no pickle, no code on the wire.

The coordinator sends data only: the model's :class:`~parawire.models.ModelSpec` (the
factory *reference*, a string), the node → vertex assignment, a digest of the traced
program, and the unit's weights as safetensors. The worker builds the module with the
*same factory, importable on the worker* (as Dask and Ray require code on workers),
loads the weights, traces it again and checks the digest, then runs only its vertices
as fx sub-graphs (:mod:`~parawire.models.subgraph`).

Importing a module is running its code, so a reference named by a network message is
never imported unless the worker's operator allowed exactly that string
(``parawire worker --allow-model REF``; ``LocalWorkers(allow_models=…)``, which
``parawire run --model REF --local`` passes for the model it runs). A worker without
the permission answers the deployment with ``model factory 'REF' is not allowed on
this worker`` and keeps serving. Weights always travel: a factory whose initialisation
is random then still gives the deploying coordinator's values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from parawire.errors import ParawireError
from parawire.registry.kinds import builtin


def deployment(imported) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The JSON a :meth:`Cluster.deploy` sends as its spec for an imported model."""
    return {
        "model": {
            "spec": imported.spec.model_dump(mode="json"),
            "assignment": imported.assignment,
            "graph_sha256": imported.digest,
            "packed": {name: how.to_json() for name, how in imported.packed.items()},
            "out_bytes": [int(b) for b in imported.costs.out_bytes],
        }
    }


def model_bytes(payload: dict, unit, weights: Any = None) -> int:  # type: ignore[no-untyped-def]
    """Estimated memory of the unit (the worker refuses a deployment above its limit
    before importing anything): the weights received plus one request's activations,
    every local output and received input at once, from the deployment's byte counts;
    on a tile unit, the tiled prefix's maps too (their whole size: a bound on the crop's)."""
    from parawire.executor.protocol import SOURCE
    from parawire.executor.tiles import tiled_vertices_of

    outs = [int(b) for b in payload.get("out_bytes", [])]
    if len(outs) < 2:
        raise ParawireError("deployment model: out_bytes missing; redeploy from a current coordinator")
    image = outs[-2]  # the input vertex passes the image on

    def size(v: int) -> int:
        return image if v == SOURCE else outs[v] if 0 <= v < len(outs) else 0

    received = {p for v in unit.vertices for p in unit.preds[v]} - set(unit.vertices)
    local = set(unit.vertices) | set(tiled_vertices_of(unit))
    return len(weights or b"") + sum(size(v) for v in local) + sum(size(p) for p in received)


def unit_weights(imported, plan) -> dict[int, bytes]:  # type: ignore[no-untyped-def]
    """Unit → safetensors bytes of the parameters and buffers its vertices use."""
    from safetensors.torch import save

    from parawire.executor.tiles import graph_part, tiled_vertices_of

    out = {}
    for unit in plan.unit_plans:  # a tile unit runs the tiled prefix too
        state = imported.state_for([*graph_part(unit).vertices, *tiled_vertices_of(unit)])
        out[unit.unit] = save({k: t.detach().contiguous().clone() for k, t in state.items()})
    return out


def deploy_model(cluster, imported, plan, *, engine: str | None = None,  # type: ignore[no-untyped-def]
                 timeout: float | None = None) -> None:
    """Deploy ``plan`` of ``imported`` on ``cluster``: the deployment and each unit's weights."""
    cluster.deploy(deployment(imported), plan, unit_weights(imported, plan), timeout=timeout, engine=engine)


MODEL_ENGINES = ("torch", "onnxruntime")
"""Engines that run an imported model's blocks: its fx sub-graphs in eager torch, or
exported to ONNX on the worker (:mod:`parawire.models.onnx`)."""


def model_profile(profile: str, engine: str, engine_params: dict | None = None):  # type: ignore[no-untyped-def]
    """The device profile that weighs an imported model's blocks by predicted time: one
    rule for `score --model`, `run --model` and :func:`parawire.models.run_model`, so all
    three partition alike (``local`` is measured once per engine and its parameters, and
    cached). Here, not in the command line, because ``run_model`` sits below it."""
    from parawire.calibration.local import get_profile
    from parawire.registry.manager import get_plugins

    get_plugins().engines.get(engine)  # an unknown name: one line listing the known ones
    return get_profile(profile, engine=engine, engine_params=engine_params)


def model_blocks(payload: dict, unit, weights: Any, allowed: frozenset[str],  # type: ignore[no-untyped-def]
                 engine: str | None = None) -> dict:
    """The unit's blocks of a deployed model (worker side; see the module docstring)."""
    from parawire.executor.protocol import SOURCE
    from parawire.executor.tiles import graph_part
    from parawire.models.factory import build_model
    from parawire.models.imported import ATTRIBUTE, ModelSpec, graph_digest, sample_input, set_attributes, traced
    from parawire.models.packing import Packing
    from parawire.models.subgraph import block_modules

    spec = ModelSpec.parse(payload.get("spec", {}), source="deployment model")
    if spec.factory not in allowed:
        raise ParawireError(
            f"model factory {spec.factory!r} is not allowed on this worker;"
            f" start it with --allow-model {spec.factory}"
        )
    model = build_model(spec.factory, spec.input_shape)
    received = {}
    if weights is not None:
        from safetensors.torch import load

        received = load(bytes(weights))
    state = {k: t for k, t in received.items() if not k.startswith(ATTRIBUTE)}
    unexpected = model.load_state_dict(state, strict=False).unexpected_keys
    if unexpected:
        raise ParawireError(f"weights name {unexpected[0]!r}, which {spec.factory} here does not have; deploy the same code")
    gm = traced(model, spec)
    if graph_digest(gm) != payload.get("graph_sha256"):
        raise ParawireError(
            f"{spec.factory} traces to another program here than on the coordinator; deploy the same code"
        )
    set_attributes(gm, {k: t for k, t in received.items() if k.startswith(ATTRIBUTE)}, spec.factory)
    assignment = {str(k): int(v) for k, v in payload.get("assignment", {}).items()}
    source = max(assignment.values(), default=-1) + 1
    packed = {str(k): Packing.from_json(v) for k, v in payload.get("packed", {}).items()}
    full, unit = unit, graph_part(unit)  # a tiled plan's tile call and gathers are added at the end
    blocks, preds = block_modules(gm, assignment, source, source + 1, unit.vertices, packed)
    for v in unit.vertices:
        if (preds[v] or [SOURCE]) != unit.preds[v]:
            raise ParawireError(f"plan does not match the model's DAG at vertex {v}; rebuild the plan")
    compile_module = None
    if engine == "onnxruntime":
        from parawire.models.onnx import ort_blocks, ort_module

        blocks = ort_blocks(gm, unit, blocks, assignment, source, source + 1, packed, sample_input(spec))
        compile_module = ort_module
    if full.tiling is not None:
        from parawire.models.tiling import ModelTiles, model_dag, node_shapes, unit_tile_blocks

        tiles = ModelTiles(gm, assignment, model_dag(gm, assignment, source, source + 1),
                           node_shapes(gm, sample_input(spec)))
        blocks.update(unit_tile_blocks(tiles, full, compile_module))
    return blocks


def deployment_builder(allowed_models: Iterable[str] = ()):  # type: ignore[no-untyped-def]
    """A worker builder: generated specs as before, imported models when allowed."""
    allowed = frozenset(allowed_models)

    from parawire.executor import worker
    from parawire.executor.estimate import early_bytes

    def build(spec: dict, unit, weights: Any = None, engine: str | None = None,  # type: ignore[no-untyped-def]
              engine_params: dict | None = None):
        if "model" in spec:
            own = engine.removeprefix(builtin("")) if engine else None  # parawire:torch is torch
            if own not in (None, *MODEL_ENGINES):
                raise ParawireError(f"engine {engine!r}: an imported model runs on {' or '.join(MODEL_ENGINES)}")
            return model_blocks(spec["model"], unit, weights, allowed, own)
        return worker.network_blocks(spec, unit, weights, engine, engine_params)

    def estimate(spec: dict, unit, weights: Any = None) -> int:  # type: ignore[no-untyped-def]
        if "model" in spec:
            return model_bytes(spec["model"], unit, weights)
        return worker.network_bytes(spec, unit, weights)

    def plan_estimate(spec: dict, plan, unit, limit: int) -> int:  # type: ignore[no-untyped-def]
        # an imported model has no graph to generate: its estimate above comes before anything is built
        return 0 if "model" in spec else early_bytes(spec, plan, unit, limit)

    build.estimate = estimate  # type: ignore[attr-defined]
    build.plan_estimate = plan_estimate  # type: ignore[attr-defined]
    return build
