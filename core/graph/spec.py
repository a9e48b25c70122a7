"""The architecture spec: the one serialisable value every step starts from.

``nodes`` counts the *computation* vertices the generator draws. The DAG adds one input
vertex (the stem) and one output vertex (the classifier) on top, so a spec with
``nodes=40`` has a DAG of 42 vertices. That is the reading of the paper's "40 building
blocks" and it holds everywhere in parawire (statistics, costs, η, the executor).

Generator- and staging-specific parameters are validated against the plugin's own
pydantic model by :func:`resolve_params`, so a bad spec fails before any work starts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from parawire.errors import SpecError, describe_validation_error
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

Aggregation = Literal["sigmoid-inputs", "sigmoid-weights"]


OWN_PLUGINS = "parawire"
"""The distribution of parawire's own plugins, as a qualified name spells it
(``parawire.registry.kinds.builtin``; this layer sits below the registries)."""

#: Spec file formats by extension (no extension: JSON).
FORMATS = {".json": "json", "": "json", ".toml": "toml"}


MAX_CLASSES = 100_000
"""Most output classes a spec accepts."""

MAX_INPUT_SIDE = 65_536
"""Largest channel count or side of the input image a spec accepts."""


def check_input_shape(shape: tuple[int, int, int]) -> tuple[int, int, int]:
    """``shape`` if every side is in [1, :data:`MAX_INPUT_SIDE`] (a pydantic validator's
    ValueError otherwise). The upper bound keeps every shape and byte count in int64
    (numpy's shape tables): a 20-digit side got through and stopped ``score`` with an
    OverflowError traceback."""
    if any(not 1 <= d <= MAX_INPUT_SIDE for d in shape):
        raise ValueError(f"every dimension of (C, H, W) must be between 1 and {MAX_INPUT_SIDE}")
    return shape


class ArchitectureSpec(BaseModel):
    """Everything needed to rebuild one architecture bit-for-bit from a file and a seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    generator: str = Field("dp", description="generator plugin name (see `parawire plugins`)")
    params: dict[str, Any] = Field(
        default_factory=dict, description="generator parameters; unset ones take defaults"
    )
    nodes: int = Field(40, ge=2, le=5000, description="computation vertices (no input/output)")
    seed: int = Field(0, ge=0, lt=2**63, description="fixes graph, staging, weights, partition")
    staging: str = Field("probabilistic", description="staging policy plugin name")
    staging_params: dict[str, Any] = Field(
        default_factory=dict, description="staging policy parameters; unset ones take defaults"
    )
    input_shape: tuple[int, int, int] = Field((3, 32, 32), description="(C, H, W) of one image")
    classes: int = Field(10, ge=2, le=MAX_CLASSES, description="number of output classes")
    base_channels: int = Field(64, ge=1, le=4096, description="channels after the stem")
    channel_cap: int = Field(1024, ge=1, le=16384, description="staging never exceeds this")
    aggregation: Aggregation = Field(
        "sigmoid-weights",
        description="sigmoid on the weights (RandWire, default: it trains) or on each input (paper)",
    )

    @model_validator(mode="after")
    def _own_defaults(self) -> ArchitectureSpec:
        """A generator or staging policy the spec does not name is parawire's own, written
        ``parawire:dp``: a third party's plugin called ``dp`` must not make a spec that never
        named one ambiguous, and a spec sent to a worker (as JSON, every field written out)
        must select there what it selected here. A name the spec gives is kept as given."""
        for name in ("generator", "staging"):
            if name not in self.model_fields_set:
                object.__setattr__(self, name, f"{OWN_PLUGINS}:{getattr(self, name)}")
        return self

    @field_validator("input_shape")
    @classmethod
    def _positive_shape(cls, v: tuple[int, int, int]) -> tuple[int, int, int]:
        return check_input_shape(v)

    @field_validator("channel_cap")
    @classmethod
    def _cap_at_least_base(cls, v: int, info) -> int:
        base = info.data.get("base_channels")
        if base is not None and v < base:
            raise ValueError(f"must be at least base_channels ({base})")
        return v

    # -- files ---------------------------------------------------------------------
    def to_json(self) -> str:
        return self.model_dump_json(indent=2)

    def save(self, path: str | Path) -> Path:
        """Write JSON or TOML, chosen by the file suffix."""
        path = Path(path)
        if path.suffix == ".toml":
            import tomli_w

            path.write_text(tomli_w.dumps(self.model_dump(mode="json")))
        else:
            path.write_text(self.to_json() + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> ArchitectureSpec:
        """Read JSON (``.json`` or no extension) or TOML (``.toml``); any problem, another
        extension included, becomes a one-line :class:`SpecError`."""
        path = Path(path)
        fmt = FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise SpecError(f"{path}: cannot read {path.suffix} files; a spec is JSON (.json) or TOML (.toml)")
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SpecError(f"{path}: cannot read spec ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise SpecError(f"{path}: not UTF-8 text (byte {exc.start}); save the spec as UTF-8") from None
        return cls.from_text(text, fmt, str(path))

    @classmethod
    def from_text(cls, text: str, fmt: str, source: str) -> ArchitectureSpec:
        """Parse a spec's ``text`` in ``fmt`` (``json`` or ``toml``), naming ``source`` in errors.
        Blank text is refused: as TOML it would parse to the default spec, so an empty file
        or stdin would silently measure an architecture nobody asked for."""
        if not text.strip():
            raise SpecError(f"{source}: empty; give a spec (e.g. `parawire generate ... -o FILE`, or `-o -` to pipe one)")
        try:
            data = tomllib.loads(text) if fmt == "toml" else json.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SpecError(f"{source}: not valid {fmt.upper()} ({exc})") from None
        return cls.parse(data, source=source)

    @classmethod
    def parse(cls, data: Any, source: str = "spec") -> ArchitectureSpec:
        """Validate a mapping; failures name the field, the value and what is allowed."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(f"{source}: {describe_validation_error(exc)}") from None


def resolve_params(model: type[BaseModel], params: dict[str, Any], where: str) -> BaseModel:
    """Validate a plugin's parameters against its model, with a one-line error."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise SpecError(describe_validation_error(exc, prefix=where)) from None
