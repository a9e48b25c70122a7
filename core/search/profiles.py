"""``--profile``: a shipped profile, this machine's calibrated ``local``, or a testbed preset.

A preset's profile is the one ``parawire testbed run`` predicts with before it measures
anything: this machine's ``local`` compute for the engine under the preset's CPU quota,
the preset's shaped link, and the message and engine-call costs and quota reserve of
``parawire testbed calibrate`` when it has been run for that preset and engine
(``local``'s per-message latency and the model's defaults otherwise). The testbed then fits a
compute slow-down from its one-device run (``preset_profile``'s ``compute_scale``); a
search cannot, so it ranks with the unfitted profile. A uniform compute scale changes
every candidate's compute alike, so it moves the ranking only where compute and
messages trade off; docs/search.md gives the measured effect.
"""

from __future__ import annotations

from functools import lru_cache

from parawire.calibration.local import get_profile
from parawire.errors import ParawireError
from parawire.latency.model import DeviceProfile
from parawire.latency.profiles import KNOWN
from parawire.registry.manager import resolve_engine
from parawire.testbed import calibrate
from parawire.testbed.presets import PRESETS


def profile_names() -> tuple[str, ...]:
    return (*KNOWN, *PRESETS)


@lru_cache(maxsize=8)
def search_profile(name: str, engine: str | None = None) -> DeviceProfile:
    """The device profile a search predicts with (cached per process: pool workers
    resolve it once; ``local`` is measured once per machine and engine, then read)."""
    if name in PRESETS:
        engine = resolve_engine(engine)
        base = get_profile("local", engine=engine)
        saved = calibrate.load(PRESETS[name], engine)
        half_rtt = saved["message_latency_s"] if saved else base.message_latency_s
        return calibrate.calibrated_profile(PRESETS[name], base, half_rtt, saved, engine=engine)
    if name not in KNOWN:
        raise ParawireError(f"--profile: got {name!r}; use one of {', '.join(profile_names())}")
    return get_profile(name, engine=resolve_engine(engine) if name == "local" else None)
