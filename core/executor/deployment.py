"""A deployment message, checked completely before it may replace the one being served.

Why a module of its own: a ``DEPLOY`` comes from the network, and a worker must not
tear down a working deployment for one that turns out to be broken (the owner's next
request would then time out with a misleading "message lost"). Everything here is a
pure check of the JSON body: types (pydantic), id ranges (a unit id must be packable
into the reply header, vertex ids into its ``int32`` field), and the plan's internal
consistency for the deployed unit (its vertices, who sends it what, which peers it needs).
Only after these checks, the resource estimate and the build have all succeeded does
the worker switch over (see :mod:`~parawire.executor.worker`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from parawire.errors import ParawireError, describe_validation_error
from parawire.executor.plan import Plan, UnitPlan
from parawire.executor.protocol import COORDINATOR, SOURCE
from pydantic import BaseModel, ConfigDict, Field, ValidationError

MAX_VERTICES = 2**31 - 1
"""Vertex ids travel in the header's signed 32-bit field."""


class DeploymentError(ParawireError):
    """A deployment that this worker refuses; the previous one (if any) keeps serving."""


class Peer(BaseModel):
    """How to reach another unit's worker."""

    model_config = ConfigDict(extra="forbid")

    address: str = Field(max_length=1024)
    server_key: str | None = Field(None, min_length=40, max_length=40)


class DeployBody(BaseModel):
    """The JSON of a ``DEPLOY`` message (see :meth:`Cluster.deploy`)."""

    model_config = ConfigDict(extra="forbid")

    spec: dict[str, Any]
    plan: Plan
    unit: int = Field(ge=0, lt=COORDINATOR)
    peers: dict[int, Peer] = Field(default_factory=dict)
    engine: str | None = Field(None, min_length=1, max_length=100)
    engine_params: dict[str, Any] | None = None
    """The engine's parameters as JSON (``--engine-param``), validated by the worker with the
    engine's own model when it builds; ``None``: the worker's own (``parawire worker --engine-param``)."""
    owner: str | None = Field(None, max_length=64)
    """HMAC proving the sender holds the worker's owner secret (:func:`~parawire.executor.security.owner_proof`)."""


@dataclass(frozen=True)
class Deployment:
    """A checked deployment of one unit: what the builder and the runner need."""

    spec: dict[str, Any]
    plan: Plan
    unit: int
    unit_plan: UnitPlan
    peers: dict[int, Peer]
    senders: dict[int, int]
    """vertex → the only unit whose ``TENSOR`` for it is accepted (``SOURCE`` → the coordinator)."""
    engine: str | None = None
    """The inference engine plugin named by the deployer (``None``: the worker's default)."""
    engine_params: dict[str, Any] | None = None
    """Its parameters as the deployer sent them (``None``: it sent none)."""


def check_deployment(body: dict[str, Any]) -> Deployment:
    """The deployment in ``body``, or :class:`DeploymentError` naming the first fault."""
    try:
        parsed = DeployBody.model_validate(body)
    except ValidationError as exc:
        raise DeploymentError(describe_validation_error(exc, "deployment")) from None
    plan, unit = parsed.plan, parsed.unit
    _check_plan(plan)
    if unit >= plan.units:
        raise DeploymentError(f"deployment.unit: got {unit}; the plan has units 0..{plan.units - 1}")
    unit_plan = plan.unit_plans[unit]
    _check_unit(plan, unit_plan)
    needed = sorted({u for targets in unit_plan.sends.values() for u in targets})
    missing = [u for u in needed if u not in parsed.peers]
    if missing:
        raise DeploymentError(f"deployment.peers: no address for units {missing}, to which unit {unit} sends")
    senders = dict(unit_plan.receives)
    if any(unit_plan.preds[v] == [SOURCE] for v in unit_plan.vertices):
        senders[SOURCE] = COORDINATOR
    return Deployment(parsed.spec, plan, unit, unit_plan, parsed.peers, senders, parsed.engine,
                      parsed.engine_params)


def _check_plan(plan: Plan) -> None:
    n, k = len(plan.partition), plan.units
    if not 1 <= k < COORDINATOR:
        raise DeploymentError(f"plan.units: got {k}; allowed 1..{COORDINATOR - 1}")
    if not 1 <= n <= MAX_VERTICES:
        raise DeploymentError(f"plan.partition: {n} vertices; allowed 1..{MAX_VERTICES}")
    if len(plan.unit_plans) != k or any(p.unit != u for u, p in enumerate(plan.unit_plans)):
        raise DeploymentError(f"plan.unit_plans: expected units 0..{k - 1} in order")
    bad = next((p for p in plan.partition if not 0 <= p < k), None)
    if bad is not None:
        raise DeploymentError(f"plan.partition: unit {bad} out of range 0..{k - 1}")
    if not 0 <= plan.output_vertex < n or plan.partition[plan.output_vertex] != plan.output_unit:
        raise DeploymentError(
            f"plan.output_vertex {plan.output_vertex} / output_unit {plan.output_unit} do not match the partition"
        )
    if not plan.input_units or any(not 0 <= u < k for u in plan.input_units):
        raise DeploymentError(f"plan.input_units: got {plan.input_units}; need units in 0..{k - 1}")


def _check_unit(plan: Plan, up: UnitPlan) -> None:
    """The unit's schedule agrees with the partition: its vertices, their inputs, sends."""
    n, part, u = len(plan.partition), plan.partition, up.unit
    mine = plan.vertices_of(u)
    held = set(mine)
    if sorted(up.vertices) != mine or len(set(up.vertices)) != len(up.vertices):
        raise DeploymentError(f"plan.unit_plans[{u}].vertices do not match the partition's vertices of unit {u}")
    if set(up.preds) != set(mine):
        raise DeploymentError(f"plan.unit_plans[{u}].preds: keys must be the unit's vertices")
    position = {v: i for i, v in enumerate(up.vertices)}
    for v in up.vertices:
        for p in up.preds[v]:
            if p == SOURCE:
                continue
            if not 0 <= p < n:
                raise DeploymentError(f"plan.unit_plans[{u}].preds[{v}]: vertex {p} out of range 0..{n - 1}")
            if p in held and position[p] >= position[v]:
                raise DeploymentError(f"plan.unit_plans[{u}]: vertex {v} runs before its input {p}")
            if p not in held and up.receives.get(p) != part[p]:
                raise DeploymentError(f"plan.unit_plans[{u}].receives: vertex {p} must come from unit {part[p]}")
    for p, sender in up.receives.items():
        if not 0 <= p < n or part[p] != sender or sender == u:
            raise DeploymentError(f"plan.unit_plans[{u}].receives[{p}]: got unit {sender}; the partition disagrees")
    for v, targets in up.sends.items():
        if v not in position or any(not 0 <= t < plan.units or t == u for t in targets):
            raise DeploymentError(f"plan.unit_plans[{u}].sends[{v}]: got {targets}; other units of the plan only")
