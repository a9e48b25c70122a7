"""Device presets: what one emulated device gets (CPU share, link rate), and why.

A preset fixes what the testbed can emulate: a CPU *share* (a CFS quota, in cores of
this machine) and a link *rate* (tbf, both directions). It cannot emulate propagation
delay (that needs netem, missing from this kernel), a different instruction set or cache,
a device's memory limit, or the jitter of a real radio or a cloud network; docs/testbed.md
lists these beside the numbers.
"""

from __future__ import annotations

from typing import Literal

from parawire.errors import ParawireError, SpecError, describe_validation_error
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator


MIN_RATE_MBIT, MAX_RATE_MBIT = 0.1, 100_000.0
"""Link rates a preset may ask for: below 0.1 Mbit/s a 32-px image alone takes a second a
link; above 100 Gbit/s a veth pair is the limit, not tbf (``tc`` also refused the
exponent that a 20-digit rate prints with, after the testbed was up)."""

MAX_BURST_S = 60.0
"""Longest bucket, in seconds at the link's rate, a preset may ask for: ``tc`` keeps the
bucket as a time in 32-bit ticks and silently cut larger ones (64 MB at 0.1 Mbit/s
became 1.8 MB), so the link would not be what the preset says."""


class Preset(BaseModel):
    """One emulated device class; ``cpu`` is a fraction of one core of this machine."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    cpu: float = Field(gt=0, le=1, description="CFS quota as a fraction of one core")
    rate_mbit: float = Field(ge=MIN_RATE_MBIT, le=MAX_RATE_MBIT, description="tbf rate of each link direction, Mbit/s")
    burst_kb: int = Field(32, ge=2, lt=1 << 22, description="tbf bucket: bytes that may pass at line rate")
    network: Literal["switched", "shared"] = "switched"
    emulates: str = ""

    @field_validator("burst_kb")
    @classmethod
    def _bucket_fits_tbf(cls, burst_kb: int, info: ValidationInfo) -> int:
        rate = info.data.get("rate_mbit")
        if rate is not None and (seconds := burst_kb * 1024 / (rate * 1e6 / 8)) > MAX_BURST_S:
            most = int(MAX_BURST_S * rate * 1e6 / 8 / 1024)
            raise ValueError(f"{seconds:.3g} s of bucket at {rate:g} Mbit/s; tbf keeps at most {MAX_BURST_S:g} s,"
                             f" so use at most {most} KB or a higher rate")
        return burst_kb


PRESETS = {
    p.name: p
    for p in (
        Preset(name="t2.micro", cpu=0.25, rate_mbit=100,
               emulates="the paper's AWS t2.micro (§6.1): one vCPU of a 2.4-3.3 GHz Haswell-era Xeon, "
                        "about a quarter of one core of this machine on depthwise-separable blocks "
                        "(the `edge` profile's 5 GMAC/s against ~20); ~100 Mbit/s networking"),
        Preset(name="rpi3", cpu=0.125, rate_mbit=94,
               emulates="a Raspberry Pi 3B running one worker thread: a 1.2 GHz Cortex-A53 core, about "
                        "an eighth of a server core on these blocks; its USB-attached Fast Ethernet "
                        "(94 Mbit/s TCP)"),
        Preset(name="rpi4", cpu=0.25, rate_mbit=940,
               emulates="a Raspberry Pi 4 running one worker thread: a 1.5 GHz Cortex-A72 core, about a "
                        "quarter of a server core; gigabit Ethernet (940 Mbit/s TCP)"),
    )
}


def get_preset(name: str, **overrides) -> Preset:
    """A preset by name, with fields replaced by the non-``None`` ``overrides``."""
    if name not in PRESETS:
        raise ParawireError(f"--preset: got {name!r}; known presets: {', '.join(PRESETS)}")
    changes = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Preset(**{**PRESETS[name].model_dump(), **changes})
    except ValidationError as exc:
        raise SpecError(f"testbed: {describe_validation_error(exc)}") from None
