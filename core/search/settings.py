"""What a search is asked: the devices, the targets, the space, the proxy — one value.

:meth:`SearchSettings.fingerprint` is every setting that changes what a trial computes
or how the sampler proposes; a stored search made with another fingerprint is refused
(as ``study grid`` refuses a table). Only the trial budget may change: a rerun with more
``--trials`` continues the same search. Any new field joins the fingerprint unless it is
added to ``BUDGET`` — forgetting gives a refusal, never a mixed search.
"""

from __future__ import annotations

from typing import Annotated

from parawire.errors import ParawireError, SpecError, describe_validation_error
from parawire.graph.spec import MAX_CLASSES, check_input_shape
from parawire.pipeline.placement import PLACEMENTS
from parawire.registry.manager import get_plugins
from parawire.registry.records import DEFAULT_CODEC
from parawire.score.hypergraph import INPUT_POLICIES
from parawire.search.proxy import DEFAULT_EPOCHS, MEASURED_TAU, MIN_TAU
from parawire.search.space import SearchSpace
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

SEARCHED = PLACEMENTS[:3]
"""Placements tried per candidate by default: partition, schedule and hybrid (``auto`` is
the fastest of those three, so searching it beside them adds nothing)."""

#: Fields that say how much to do, not what: a search may be extended with more trials.
BUDGET = frozenset({"trials"})
MAX_TRIALS = 100_000
"""The largest trial budget: about ten days of a search on this 2-core machine (200
trials take under 30 minutes). More was accepted and hung before the first trial, while
the random baseline listed that many candidates."""

Range = tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]]


class SearchSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str = Field(description="device profile: edge, lan, local or a testbed preset")
    devices: int = Field(ge=1, le=1024, description="K: devices the network runs on")
    engine: str | None = Field(None, description="engine whose calibration `local` and presets use")
    max_params: int | None = Field(None, ge=1)
    max_flops: int | None = Field(None, ge=1)
    min_accuracy: float | None = Field(None, ge=0.0, le=1.0, description="proxy top-1, a fraction")
    trials: int = Field(ge=1, le=MAX_TRIALS)
    generators: tuple[str, ...] = ()
    stagings: tuple[str, ...] = ()
    nodes: Range = (10, 60)
    base_channels: Range = (4, 32)
    channel_doublings: tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(le=10)]] = (0, 4)
    input_policies: tuple[str, ...] = INPUT_POLICIES
    placements: tuple[str, ...] = SEARCHED
    codecs: tuple[str, ...] = (DEFAULT_CODEC,)
    input_shape: Annotated[tuple[int, int, int], AfterValidator(check_input_shape)] = (3, 32, 32)
    classes: int = Field(10, ge=2, le=MAX_CLASSES)  # the spec's own bounds, checked before anything is written
    dataset: str = "digits"
    proxy_epochs: int = Field(DEFAULT_EPOCHS, description="epochs of the proxy (a prefix of full training)")
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _ranges(self) -> SearchSettings:
        for name in ("nodes", "base_channels", "channel_doublings"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name}: low {low} above high {high}; give LOW HIGH")
        if self.nodes[0] < self.devices:
            raise ValueError(f"nodes: the smallest ({self.nodes[0]}) has fewer vertices than --devices "
                             f"{self.devices}; raise --nodes LOW to at least {self.devices}")
        tau = MEASURED_TAU.get(self.proxy_epochs)
        if tau is None or tau < MIN_TAU:
            usable = ", ".join(str(e) for e, t in MEASURED_TAU.items() if t >= MIN_TAU)
            measured = "was not measured" if tau is None else f"ranks as full training only with τ = {tau:.2f}"
            raise ValueError(f"proxy_epochs: {self.proxy_epochs} epochs {measured} (below {MIN_TAU}, "
                             f"benchmarks/search_proxy.py); use {usable}")
        for name, known in (("input_policies", INPUT_POLICIES), ("placements", PLACEMENTS)):
            unknown = [v for v in getattr(self, name) if v not in known]
            if unknown or not getattr(self, name):
                raise ValueError(f"{name}: got {', '.join(unknown) or 'none'}; use some of {', '.join(known)}")
        return self

    @classmethod
    def build(cls, **fields) -> SearchSettings:
        """Validate before any work: fields, plugin names (all installed ones by default)."""
        plugins = get_plugins()
        fields.setdefault("generators", ())
        fields.setdefault("stagings", ())
        fields["generators"] = tuple(fields["generators"]) or tuple(plugins.generators.selectable())
        fields["stagings"] = tuple(fields["stagings"]) or tuple(plugins.staging.selectable())
        try:
            settings = cls(**fields)
        except ValidationError as exc:
            raise SpecError(f"search: {describe_validation_error(exc)}") from None
        settings.space()  # unknown plugin names fail here
        settings.check_codecs()
        if settings.dataset != "digits" and settings.min_accuracy is not None:
            raise ParawireError(f"--dataset {settings.dataset}: the proxy is validated on digits only; use digits")
        return settings

    def check_codecs(self) -> None:
        """Every searched codec is installed and takes its default parameters; a lossy one
        only with an accuracy target, which its candidates are then measured against."""
        from parawire.registry.codecs import get_codec

        if not self.codecs or len(set(self.codecs)) != len(self.codecs):
            raise ParawireError(f"--codec: got {', '.join(self.codecs) or 'none'}; name each codec to search once")
        lossy = [name for name in self.codecs if not get_codec(name).exact]
        if lossy and self.min_accuracy is None:
            raise ParawireError(f"--codec {lossy[0]}: a lossy codec changes what the network computes; give "
                                "--min-accuracy so each candidate's accuracy is measured through it")

    def fingerprint(self) -> dict:
        """The settings that must match a stored search's; ``codecs`` only when other than
        raw alone, so a search stored before codecs were searchable still continues."""
        out = {k: v for k, v in self.model_dump(mode="json").items() if k not in BUDGET}
        if self.codecs == (DEFAULT_CODEC,):
            del out["codecs"]
        return out

    def objectives(self) -> list[tuple[str, str]]:
        """(name, direction): latency always; accuracy and parameters when they are targets."""
        out = [("predicted_ms", "minimize")]
        if self.min_accuracy is not None:
            out.append(("accuracy", "maximize"))
        if self.max_params is not None:
            out.append(("params", "minimize"))
        return out

    def violations(self, record: dict) -> dict[str, float]:
        """Constraint values (≤ 0: met) of an evaluated trial, one per target given."""
        out = {}
        if self.max_params is not None:
            out["params"] = float(record["params"] - self.max_params)
        if self.max_flops is not None:
            out["flops"] = float(record["flops"] - self.max_flops)
        if self.min_accuracy is not None:
            out["accuracy"] = self.min_accuracy - (record["accuracy"] if record["accuracy"] is not None else 0.0)
        return out

    def within_limits(self, record: dict) -> bool:
        """Whether a scored candidate meets the parameter and FLOP limits (training it is
        worth it only then)."""
        return ((self.max_params is None or record["params"] <= self.max_params)
                and (self.max_flops is None or record["flops"] <= self.max_flops))

    def feasible(self, record: dict) -> bool:
        return not record.get("invalid") and all(v <= 0 for v in self.violations(record).values())

    def space(self) -> SearchSpace:
        return SearchSpace.from_plugins(
            get_plugins(), self.generators, self.stagings, nodes=self.nodes,
            base_channels=self.base_channels, channel_doublings=self.channel_doublings,
            # one codec is no dimension: the sampler's draws stay those of a search without codecs
            options={"input_policy": self.input_policies, **({"codec": self.codecs} if len(self.codecs) > 1 else {})},
            input_shape=self.input_shape,
            classes=self.classes, seed=self.seed,
        )
