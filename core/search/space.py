"""The search space, read from what is installed rather than written down here.

A generator's or staging policy's parameters are searchable exactly within the bounds of
its pydantic parameter model (``Field(ge=…, le=…)``, ``Literal[…]``, ``bool``): a
third-party generator becomes searchable the moment it is installed, with no code in
parawire. A parameter without both bounds cannot be sampled honestly (what would "an
int ≥ 1" be drawn from?), so it keeps its default and is listed as fixed.

Integer ranges wider than two decades (BA's ``m`` and WS's ``k`` go to 1000) are drawn
log-uniformly: uniformly, nearly every draw would exceed the vertex count and be
refused by the generator; log-uniformly half of them fit a 40-vertex graph. Such a draw
is still possible and becomes an *invalid* trial (counted, pruned), not an error.

Choices that are not plugin parameters (input policy, and whatever later issues add:
codec, placement kinds) are plain named lists of strings in :attr:`SearchSpace.options`,
so adding one is adding a name and its choices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

import annotated_types as at
from parawire.graph.seeds import derived_seed
from pydantic import BaseModel

#: An integer range at least this wide (high / low) is drawn log-uniformly.
LOG_RATIO = 100


@dataclass(frozen=True)
class Dimension:
    """One searchable value: ``name`` is the Optuna parameter (``dp.alpha``), ``field``
    the plugin parameter it sets (``alpha``)."""

    name: str
    field: str
    kind: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()

    def suggest(self, trial) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def holds(self, value: Any) -> bool:
        """Whether ``value`` is one this dimension can propose."""
        if self.kind == "categorical":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        whole = self.kind != "int" or float(value).is_integer()
        return whole and self.low <= value <= self.high

    def describe(self) -> str:
        if self.kind == "categorical":
            return "{" + ", ".join(map(str, self.choices)) + "}"
        return f"[{self.low:g}, {self.high:g}]{' log' if self.log else ''}"


def _bounds(info) -> tuple[float | None, float | None, bool, bool]:
    """(low, high, low open, high open) from a field's annotated_types metadata."""
    low = high = None
    low_open = high_open = False
    for item in info.metadata:
        if isinstance(item, at.Ge):
            low, low_open = item.ge, False
        elif isinstance(item, at.Gt):
            low, low_open = item.gt, True
        elif isinstance(item, at.Le):
            high, high_open = item.le, False
        elif isinstance(item, at.Lt):
            high, high_open = item.lt, True
    return low, high, low_open, high_open


def dimension_of(name: str, field_name: str, info) -> Dimension | None:
    """The dimension a pydantic field spans, or ``None`` when it has no finite range."""
    annotation = info.annotation
    if annotation is bool:
        return Dimension(name, field_name, "categorical", choices=(False, True))
    if get_origin(annotation) is Literal:
        return Dimension(name, field_name, "categorical", choices=get_args(annotation))
    if annotation not in (int, float):
        return None
    low, high, low_open, high_open = _bounds(info)
    if low is None or high is None:
        return None
    if annotation is int:
        low, high = int(low) + low_open, int(high) - high_open
        log = low >= 1 and high / low >= LOG_RATIO
        return Dimension(name, field_name, "int", low, high, log=log)
    if low_open:
        low = math.nextafter(float(low), math.inf)
    if high_open:
        high = math.nextafter(float(high), -math.inf)
    return Dimension(name, field_name, "float", float(low), float(high))


def dimensions_of(model: type[BaseModel], prefix: str) -> tuple[tuple[Dimension, ...], dict[str, Any]]:
    """(searchable dimensions, fixed parameters with their defaults) of a parameter model."""
    dims, fixed = [], {}
    for field_name, info in model.model_fields.items():
        dim = dimension_of(f"{prefix}.{field_name}", field_name, info)
        if dim is None:
            fixed[field_name] = info.get_default(call_default_factory=True)
        else:
            dims.append(dim)
    return tuple(dims), fixed


@dataclass(frozen=True)
class Candidate:
    """What one trial proposes: the fields of an architecture spec, not yet validated (the
    evaluation validates them and turns a refusal into an invalid trial rather than an
    exception in the sampling loop), and the named run options (input policy…)."""

    spec: dict[str, Any]
    options: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"spec": dict(self.spec), "options": dict(self.options)}

    @classmethod
    def from_json(cls, data: dict) -> Candidate:
        return cls(dict(data["spec"]), dict(data["options"]))


@dataclass(frozen=True)
class SearchSpace:
    """Generators and staging policies with their dimensions, plus the structural ranges.

    ``channel_doublings`` sets ``channel_cap = base_channels × 2^d``: drawing the cap on
    its own would make every draw below ``base_channels`` invalid.
    """

    generators: dict[str, tuple[Dimension, ...]]
    stagings: dict[str, tuple[Dimension, ...]]
    nodes: tuple[int, int]
    base_channels: tuple[int, int]
    channel_doublings: tuple[int, int]
    options: dict[str, tuple[str, ...]]
    input_shape: tuple[int, int, int] = (3, 32, 32)
    classes: int = 10
    seed: int = 0

    @classmethod
    def from_plugins(cls, plugins, generators, stagings, **ranges) -> SearchSpace:
        """The space over the named generator and staging plugins (records from
        ``plugins``, a :class:`~parawire.registry.manager` view); unknown names fail there."""
        gens = {name: dimensions_of(plugins.generators.get(name).params, name)[0] for name in generators}
        stags = {name: dimensions_of(plugins.staging.get(name).params, f"staging.{name}")[0] for name in stagings}
        return cls(gens, stags, **ranges)

    def suggest(self, trial) -> Candidate:
        """The candidate of an Optuna trial (define-by-run: a generator's dimensions exist
        only in the trials that chose it). The graph seed is not searched (no sampler can
        model it) but derived from the trial number, so every trial is reproducible."""
        generator = trial.suggest_categorical("generator", sorted(self.generators))
        staging = trial.suggest_categorical("staging", sorted(self.stagings))
        base = trial.suggest_int("base_channels", *self.base_channels, log=True)
        doublings = trial.suggest_int("channel_doublings", *self.channel_doublings)
        spec = {
            "generator": generator,
            "params": {d.field: d.suggest(trial) for d in self.generators[generator]},
            "nodes": trial.suggest_int("nodes", *self.nodes),
            "seed": derived_seed(self.seed, "search", trial.number),
            "staging": staging,
            "staging_params": {d.field: d.suggest(trial) for d in self.stagings[staging]},
            "input_shape": list(self.input_shape), "classes": self.classes,
            "base_channels": base, "channel_cap": base * 2**doublings,
        }
        options = {name: trial.suggest_categorical(name, list(choices)) for name, choices in self.options.items()}
        return Candidate(spec, options)

    def params_of(self, candidate: Candidate) -> dict[str, Any]:
        """The Optuna parameters under which :meth:`suggest` proposes ``candidate``, as far
        as the space holds it: a value outside its dimension (a generator or staging policy
        not searched, 40 vertices under ``--nodes 10 20``) is left out, so the sampler draws
        it, and so is everything that depends on it."""
        spec, out = candidate.spec, {}
        structural = [
            (Dimension("generator", "generator", "categorical", choices=tuple(sorted(self.generators))),
             spec["generator"]),
            (Dimension("staging", "staging", "categorical", choices=tuple(sorted(self.stagings))), spec["staging"]),
            (Dimension("base_channels", "", "int", *self.base_channels), spec["base_channels"]),
            (Dimension("channel_doublings", "", "int", *self.channel_doublings),
             math.log2(spec["channel_cap"] / spec["base_channels"])),
            (Dimension("nodes", "", "int", *self.nodes), spec["nodes"]),
        ]
        structural += [(Dimension(name, name, "categorical", choices=choices), candidate.options.get(name))
                       for name, choices in self.options.items()]
        for dim, value in structural:
            if dim.holds(value):
                out[dim.name] = int(value) if dim.kind == "int" else value
        for kind, dims, params in (("generator", self.generators, spec["params"]),
                                   ("staging", self.stagings, spec["staging_params"])):
            if kind in out:
                out.update({d.name: params[d.field] for d in dims[out[kind]] if d.holds(params.get(d.field))})
        return out

    def describe(self) -> list[tuple[str, str]]:
        """(name, range) of every dimension, for the command's header and the docs."""
        rows = [("generator", "{" + ", ".join(sorted(self.generators)) + "}")]
        rows += [(d.name, d.describe()) for g in sorted(self.generators) for d in self.generators[g]]
        rows.append(("staging", "{" + ", ".join(sorted(self.stagings)) + "}"))
        rows += [(d.name, d.describe()) for s in sorted(self.stagings) for d in self.stagings[s]]
        rows += [("nodes", f"[{self.nodes[0]}, {self.nodes[1]}]"),
                 ("base_channels", f"[{self.base_channels[0]}, {self.base_channels[1]}] log"),
                 ("channel_doublings", f"[{self.channel_doublings[0]}, {self.channel_doublings[1]}]")]
        rows += [(name, "{" + ", ".join(choices) + "}") for name, choices in self.options.items()]
        return rows
