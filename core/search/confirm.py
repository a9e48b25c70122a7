"""``--confirm``: the fastest candidates of the front measured on the emulated testbed.

Each runs through :func:`parawire.testbed.runner.run_points` on one device and on K, with
the placement and input policy the search chose, so the testbed's own prediction (its
compute scale fitted to the one-device run) and the measurement sit beside the search's
unfitted prediction. Needs root and a preset profile (``t2.micro``, ``rpi3``, ``rpi4``).
"""

from __future__ import annotations

from collections.abc import Callable

from parawire.errors import ParawireError
from parawire.graph.spec import ArchitectureSpec
from parawire.search.settings import SearchSettings
from parawire.testbed.presets import PRESETS

TOP = 3


def check_confirm(settings: SearchSettings) -> None:
    """Refuse ``--confirm`` before the search when its profile is not a testbed preset."""
    if settings.profile not in PRESETS:
        raise ParawireError(f"--confirm: needs a testbed preset as --profile ({', '.join(PRESETS)}); "
                            f"got {settings.profile!r}")


def confirm(doc: dict, settings: SearchSettings, runs: int = 10,
            on_point: Callable[[dict], None] | None = None) -> list[dict]:
    """One row per confirmed candidate: search-predicted, testbed-predicted and measured ms."""
    from parawire.testbed.runner import run_points

    rows = []
    for rank, item in enumerate(doc["front"][:TOP], start=1):
        counts = sorted({1, settings.devices})
        record = run_points(ArchitectureSpec.model_validate(item["spec"]), counts, PRESETS[settings.profile],
                            input_policy=item["input_policy"], engine=settings.engine, runs=runs,
                            placement=item["placement"], on_point=on_point)
        point = record["points"][-1]
        rows.append({"rank": rank, "trial": item["trial"], "search_predicted_ms": item["predicted_ms"],
                     "testbed_predicted_ms": point["predicted_ms"], "measured_ms": point["measured_ms"],
                     "error": point["error"], "speedup": point["speedup"], "equal": point["equal"]})
    return rows
