"""What one candidate scores: parameters, FLOPs, predicted latency on K devices, proxy accuracy.

The latency of a candidate is the model's prediction with the placement parawire would
use for it: every placement the search allows (default:
:data:`parawire.search.settings.SEARCHED`, partition, schedule and the tile-parallel
hybrid), placed on K devices and on fewer (:func:`unit_counts`) exactly as
``parawire run`` and ``testbed run`` place it
(:func:`parawire.pipeline.hybrid.choose_placement`, so ``hybrid`` keeps one device
unless it predicts a clear gain), and the fastest predicted is kept and recorded with
its placement and device count; every crossing goes through the candidate's codec (one
of ``--codec``, a dimension when several are searched; a lossy one is charged its
calibrated encode and decode work, and its accuracy measured through it). The
prediction is the one ``testbed run`` prints: the
ready-policy simulation including the image's (or its crops') delivery and the logits'
return, so a confirmed candidate compares like for like.

Training is the expensive part, so it runs only when accuracy is a target and the
candidate already meets the parameter and FLOP limits (an over-budget network is
infeasible whatever it learns; it gets accuracy ``None``).

:func:`evaluate` takes and returns JSON-able values only: it is the entry point of pool
and Dask workers, as :func:`parawire.study.sample.evaluate_batch` is for the grid.
"""

from __future__ import annotations

import warnings

from parawire.errors import ParawireError
from parawire.graph.spec import ArchitectureSpec
from parawire.pipeline.build import build_architecture
from parawire.calibration.codecs import codec_cost
from parawire.pipeline.hybrid import choose_placement
from parawire.registry.codecs import RAW_PLAN, CodecChoice, CodecPlan, get_codec
from parawire.search.profiles import search_profile
from parawire.search.proxy import proxy_accuracy
from parawire.search.settings import SearchSettings
from parawire.search.space import Candidate


def unit_counts(devices: int) -> list[int]:
    """The device counts a K-device candidate is placed on: 1, the powers of two below K,
    and K. Using fewer devices than one has is a placement too (a network whose branches
    are too small to pay for a message runs faster on fewer), and the schedule placement's
    refinement does not always find it by leaving units idle."""
    return sorted({devices, *(2**i for i in range(devices.bit_length()) if 2**i < devices)})


def predicted_latency(arch, devices: int, profile, placements, input_policy: str, codecs: CodecPlan = RAW_PLAN,
                      cost=None) -> tuple[float, str, int]:  # type: ignore[no-untyped-def]
    """(fastest predicted seconds, the placement, the devices used) of ``arch`` on up to
    ``devices``, every crossing through ``codecs`` at their calibrated ``cost``."""
    best = None
    for units in unit_counts(devices):
        for placement in placements[:1] if units == 1 else placements:  # one unit: every placement is the same
            with warnings.catch_warnings():  # a partitioner missing ε on a small DAG warns; the placement is valid
                warnings.simplefilter("ignore")
                seconds = choose_placement(arch, units, profile, placement, input_policy=input_policy,
                                           codecs=codecs, cost=cost).predicted_s
            if best is None or seconds < best[0]:
                best = (seconds, placement, units)
    return best


def score(candidate: Candidate, settings: SearchSettings, train: bool = True) -> dict:
    """The record of one candidate (see the module docstring); an architecture its
    plugins refuse (a WS ``k`` above the vertex count…) gets ``invalid`` and no numbers."""
    codec = candidate.options.get("codec", settings.codecs[0])
    record = {**candidate.to_json(), "params": None, "flops": None, "predicted_ms": None, "placement": None,
              "units": None, "codec": codec, "accuracy": None, "invalid": None}
    try:
        spec = ArchitectureSpec.parse(candidate.spec, source="candidate")
        arch = build_architecture(spec)
    except ParawireError as exc:
        return {**record, "invalid": str(exc)}
    profile = search_profile(settings.profile, settings.engine)
    choice = CodecChoice(name=codec)
    codecs, cost = (RAW_PLAN, None) if choice.raw else \
        (CodecPlan(default=choice), lambda c: codec_cost(c, settings.engine))
    seconds, placement, units = predicted_latency(arch, settings.devices, profile, settings.placements,
                                                  candidate.options["input_policy"], codecs, cost)
    if units == 1:  # nothing crosses: the run needs no codec, and the network computes exactly
        choice = CodecChoice()
    record.update(params=int(arch.costs.total_params), flops=int(arch.costs.total_flops),
                  predicted_ms=round(seconds * 1e3, 4), placement=placement, units=units, codec=choice.name)
    if train and settings.min_accuracy is not None and settings.within_limits(record):
        lossy = None if get_codec(choice).exact else choice.name  # an exact codec computes what raw does
        record["accuracy"] = round(proxy_accuracy(spec, settings.proxy_epochs, settings.dataset, lossy), 6)
    return record


def evaluate(candidate_json: dict, settings_json: str, train: bool = True) -> dict:
    """Pool and Dask entry point: JSON in, JSON out."""
    return score(Candidate.from_json(candidate_json), SearchSettings.model_validate_json(settings_json), train)
