"""``--confirm``: the fastest candidates of the front measured, beside their prediction.

On the emulated testbed (a preset profile, root): each runs through
:func:`parawire.testbed.runner.run_points` on one device and on K, with the placement,
input policy and codec the search chose, so the testbed's own prediction (its compute scale fitted
to the one-device run) and the measurement sit beside the search's unfitted one.

On ``--endpoint`` workers (``parawire worker`` on K real devices, any profile): each is
placed, planned and deployed as ``parawire run`` does, and timed; the prediction is the
search's, the profile being the user's description of those devices.
"""

from __future__ import annotations

from collections.abc import Callable

from parawire.calibration.codecs import codec_cost
from parawire.calibration.timing import summary, timings
from parawire.errors import ParawireError
from parawire.graph.spec import ArchitectureSpec
from parawire.pipeline.build import build_architecture
from parawire.registry.codecs import CodecChoice, CodecPlan
from parawire.registry.kinds import builtin
from parawire.search.profiles import search_profile
from parawire.search.settings import SearchSettings
from parawire.testbed.presets import PRESETS

TOP = 3


def codec_plan(item: dict) -> CodecPlan:
    """The crossings' codecs of a front entry: its codec on every crossing."""
    return CodecPlan(default=CodecChoice(name=item.get("codec", "raw")))


def check_confirm(settings: SearchSettings, endpoints: tuple[str, ...] = ()) -> None:
    """Refuse ``--confirm`` before the search when it could not run afterwards."""
    if endpoints and len(endpoints) != settings.devices:
        raise ParawireError(f"--endpoint: got {len(endpoints)} workers for --devices {settings.devices}; "
                            "give one --endpoint per device")
    if not endpoints and settings.profile not in PRESETS:
        raise ParawireError(f"--confirm: needs a testbed preset as --profile ({', '.join(PRESETS)}) or "
                            f"--endpoint workers; got {settings.profile!r}")


def on_endpoints(item: dict, settings: SearchSettings, endpoints: tuple[str, ...], runs: int) -> dict:
    """Median ms of ``item`` deployed on as many of the running workers at ``endpoints`` as it uses."""
    import torch
    from parawire.executor.coordinator import Cluster
    from parawire.executor.tiles import placed_plan

    spec = ArchitectureSpec.model_validate(item["spec"])
    arch = build_architecture(spec)
    policy = item["input_policy"]
    units = item["units"]
    codecs = codec_plan(item)
    plan = placed_plan(arch, units, search_profile(settings.profile, settings.engine), item["placement"],
                       input_policy=policy, codecs=codecs,
                       cost=lambda c: codec_cost(c, settings.engine))
    x = torch.randn(1, *spec.input_shape, generator=torch.Generator().manual_seed(spec.seed))
    with Cluster.connect(list(endpoints[:units]), builtin("zmq"), timeout=60.0) as cluster:
        cluster.deploy(spec, plan, engine=settings.engine)
        median, _ = summary(timings(lambda: cluster.infer(x), runs, warmup=2))
    return {"measured_ms": round(median * 1e3, 3), "testbed_predicted_ms": None, "speedup": None}


def confirm(doc: dict, settings: SearchSettings, endpoints: tuple[str, ...] = (), runs: int = 10,
            on_point: Callable[[dict], None] | None = None) -> list[dict]:
    """One row per confirmed candidate: search-predicted, (testbed-predicted) and measured ms."""
    rows = []
    for rank, item in enumerate(doc["front"][:TOP], start=1):
        if endpoints:
            got = on_endpoints(item, settings, endpoints, runs)
        else:
            got = on_testbed(item, settings, runs, on_point)
        rows.append({"rank": rank, "trial": item["trial"], "search_predicted_ms": item["predicted_ms"], **got,
                     "error": round(item["predicted_ms"] / got["measured_ms"] - 1, 4)})
    return rows


def on_testbed(item: dict, settings: SearchSettings, runs: int, on_point) -> dict:
    """``item`` on one testbed device and on the devices it uses: measured and the testbed's
    prediction there."""
    from parawire.testbed.runner import run_points

    record = run_points(ArchitectureSpec.model_validate(item["spec"]), sorted({1, item["units"]}),
                        PRESETS[settings.profile], input_policy=item["input_policy"], engine=settings.engine,
                        runs=runs, placement=item["placement"], on_point=on_point, codecs=codec_plan(item))
    point = record["points"][-1]
    return {"measured_ms": point["measured_ms"], "testbed_predicted_ms": point["predicted_ms"],
            "speedup": point["speedup"]}
