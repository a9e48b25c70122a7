"""What a study samples: the paper's grid as a validated, saveable value.

The defaults are the paper's §4 grid: six generators (the four random ones, the FB
baseline and the single chain), 1000 samples each, 40 and 80 vertices, 4–10 units, an
ε sweep. ``quick()`` is the preset the README's main command runs (under a minute).

:meth:`StudyConfig.fingerprint` is every setting that changes a row of the table; the
store refuses to resume a table with another fingerprint. The settings left out of it
only say *which* rows exist (generators, sizes, how many samples) or how work is cut
into tasks (batch), so a study may be extended with more samples or generators in the
same table. Any new field is part of the fingerprint unless it is added to
``WHICH_ROWS``: forgetting to is safe (a refusal), the opposite would mix results.
"""

from __future__ import annotations

from typing import Annotated, Literal

from parawire.errors import SpecError, describe_validation_error
from parawire.graph.seeds import derived_seed
from parawire.graph.spec import ArchitectureSpec
from parawire.registry.codecs import RAW, CodecChoice
from parawire.registry.kinds import builtin
from parawire.registry.manager import get_plugins
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

#: Fields that choose which rows a study has, not what is in them.
WHICH_ROWS = frozenset({"generators", "samples", "nodes", "batch"})


def selected(kind: str, name: str) -> str:
    """How a study selects the plugin its config names: parawire's own when parawire
    provides ``name`` and another distribution does too, else ``name`` as it is.

    Why not the name as it is: the config travels to worker processes as JSON, which does
    not say whether a name was the default or typed, and the defaults are parawire's own
    (``er``, ``multilevel``…), which a third party's plugin of the same name must not make
    ambiguous. A *typed* clashing name never gets this far: :meth:`StudyConfig.build`
    refuses it as ambiguous. The config keeps the bare names, so tables, fingerprints and
    figures are what they were."""
    return get_plugins().kinds()[kind].own(name)


MAX_SAMPLES = 100_000
"""Most architectures a study draws per generator and size (``--samples`` of ``study
grid``, ``study params``, ``study accuracy`` and ``demo``): the paper's 1,000 a hundred
times over, days of CPU here; more is a typo (10**20 was accepted and spent its time and
memory listing the study's tasks before the first sample)."""


class StudyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    generators: tuple[str, ...] = ("er", "ba", "ws", "dp", "fb", "chain")
    samples: int = Field(1000, ge=1, le=MAX_SAMPLES, description="architectures per generator and size")
    nodes: tuple[Annotated[int, Field(ge=2, le=5000)], ...] = (40, 80)
    units: tuple[Annotated[int, Field(ge=1)], ...] = (4, 6, 8, 10)
    eps: tuple[Annotated[float, Field(ge=0)], ...] = (0.03, 0.1, 0.3)
    partitioner: str = "multilevel"
    score: str = "cs"
    staging: str = "probabilistic"
    profile: str = "edge"
    input_policy: Literal["stem", "scatter"] = Field(
        "stem", description="stem: the stem's output crosses; scatter: the image goes to every unit that runs the stem")
    codec: CodecChoice = Field(RAW, description="activation codec of every crossing (Λ and latency count its bytes)")
    input_shape: tuple[int, int, int] = (3, 224, 224)
    classes: int = 102
    seed: int = Field(0, ge=0, description="base seed; sample i of a cell gets its own seed")
    batch: int = Field(10, ge=1, description="samples per task sent to a worker")

    @field_validator("generators", "nodes", "units", "eps")
    @classmethod
    def _not_empty(cls, values: tuple) -> tuple:
        if not values:
            raise ValueError("give at least one")
        return values

    @field_validator("units")
    @classmethod
    def _units_fit_nodes(cls, units: tuple[int, ...], info) -> tuple[int, ...]:
        nodes = info.data.get("nodes")
        if nodes and max(units) > min(nodes):
            raise ValueError(
                f"more units than the {min(nodes)} computation vertices of the smallest"
                f" architecture; use at most {min(nodes)}"
            )
        return units

    def fingerprint(self) -> dict:
        """Every setting that changes a row, as JSON values (see the module docstring)."""
        fields = {k: v for k, v in self.model_dump(mode="json").items() if k not in WHICH_ROWS}
        if self.codec.raw:  # tables written before codecs existed resume as raw ones
            del fields["codec"]
        return fields

    def extended(self, other: StudyConfig) -> StudyConfig:
        """The config of a table this study added rows to: same fingerprint, and the union
        of the generators and sizes, the larger sample count (for the report)."""
        return self.model_copy(update={
            "generators": tuple(dict.fromkeys((*other.generators, *self.generators))),
            "nodes": tuple(sorted({*other.nodes, *self.nodes})),
            "samples": max(other.samples, self.samples),
        })

    @classmethod
    def quick(cls, **overrides) -> StudyConfig:
        """Small enough for the README's main command: well under a minute on 2 cores.

        CIFAR-sized inputs (3×32×32, 10 classes) so that the demo's distributed run of
        the chosen architecture takes milliseconds per inference, not seconds.
        """
        base = dict(samples=20, nodes=(40,), units=(2, 4, 8), eps=(0.03, 0.3),
                    input_shape=(3, 32, 32), classes=10)
        return cls(**{**base, **overrides})

    @classmethod
    def build(cls, quick: bool = False, **overrides) -> StudyConfig:
        """Validate a study before any work: fields, and that every plugin named exists."""
        try:
            config = cls.quick(**overrides) if quick else cls(**overrides)
        except ValidationError as exc:
            raise SpecError(f"study: {describe_validation_error(exc)}") from None
        plugins = get_plugins()
        typed = config.model_fields_set

        def check(registry, field: str, name: str) -> None:
            """A name the caller gave must select one plugin; a default is parawire's own."""
            registry.get(name if field in typed else builtin(name))

        for name in config.generators:
            check(plugins.generators, "generators", name)
            config.spec(name, min(config.nodes), 0)  # every spec field valid for it
        check(plugins.partitioners, "partitioner", config.partitioner)
        check(plugins.scores, "score", config.score)
        check(plugins.staging, "staging", config.staging)
        from parawire.calibration.local import get_profile

        get_profile(config.profile)
        return config

    def spec(self, generator: str, nodes: int, sample: int) -> ArchitectureSpec:
        """The architecture of one sample: a pure function of the config and the key."""
        return ArchitectureSpec(
            generator=selected("generators", generator),
            nodes=nodes,
            seed=derived_seed(self.seed, "study", sample),
            staging=selected("staging", self.staging),
            input_shape=self.input_shape,
            classes=self.classes,
        )

    def keys(self) -> list[tuple[str, int, int]]:
        return [(g, n, s) for g in self.generators for n in self.nodes for s in range(self.samples)]
