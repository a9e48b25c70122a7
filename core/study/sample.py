"""One sample of a study: build the architecture, score it for every unit count, predict
its latency. Pure and torch-free, so it runs by the thousand in worker processes.

``latency_heft_s`` is the better of HEFT and running everything on one unit: HEFT alone
can lose to one unit when messages are dear, and a placement tool would never pick the
slower of two plans it has already costed. (The full ``schedule.place`` refinement is
~100 ms a call, too dear for every sample; ``docs/latency.md`` compares it on a subset.)

Rows are plain dicts of numbers and strings (one per units), the tidy form that
``parawire plot`` and the reproduction report read back.

U_c, the unit of communication in Λ′ = Λ/(U_c·n), is one constant per study: the bytes
of the stem's output (base_channels × H′ × W′ float32), which depends only on the
study's input shape and base channels. The paper takes "the smallest communication of an
edge in a generator"; a per-architecture or per-generator unit would rescale each
generator's Λ′ differently and make CS incomparable across generators, which is the
comparison the study exists for.
"""

from __future__ import annotations

import numpy as np
from parawire.calibration.codecs import codec_cost
from parawire.calibration.local import get_profile
from parawire.graph.stats import dag_stats
from parawire.latency.model import DeviceProfile, lower_bound, simulate
from parawire.latency.schedule import heft
from parawire.network.architecture import Architecture
from parawire.pipeline.build import build_architecture
from parawire.pipeline.score import score_architecture
from parawire.pipeline.wire import wire_of
from parawire.registry.codecs import CodecPlan
from parawire.study.config import StudyConfig, selected

COLUMNS = (
    "generator", "nodes", "sample", "seed", "units",
    "params", "flops", "depth", "max_width", "mean_width", "components",
    "eps", "imbalance", "km1_bytes", "lambda_norm", "eta", "entropy", "cs", "balanced",
    "latency_s", "latency_heft_s", "lower_bound_s", "serial_s",
)


def unit_comm(arch: Architecture) -> int:
    """The study's U_c: bytes of the stem's output (the same for every sample)."""
    return int(arch.costs.out_bytes[arch.dag.input])


def evaluate(
    config: StudyConfig, generator: str, nodes: int, sample: int, profile: DeviceProfile
) -> list[dict]:
    spec = config.spec(generator, nodes, sample)
    arch = build_architecture(spec)
    dag, costs = arch.dag, arch.costs
    stats = dag_stats(dag)
    serial = simulate(dag, costs.flops, costs.out_bytes, np.zeros(len(costs.flops), int), profile,
                      params=costs.params)
    codecs = CodecPlan(default=config.codec)
    wire = wire_of(arch, codecs, codec_cost)
    scored = score_architecture(
        arch, config.units, config.eps, partitioner=selected("partitioners", config.partitioner),
        score=selected("scores", config.score), seed=spec.seed, unit_comm=unit_comm(arch), input_policy=config.input_policy,
        codecs=codecs,
    )
    per_sample = {  # the same in every units row of this sample
        "generator": generator, "nodes": nodes, "sample": sample, "seed": spec.seed,
        "params": costs.total_params, "flops": costs.total_flops,
        "depth": stats.depth, "max_width": stats.max_width,
        "mean_width": round(stats.mean_width, 4), "components": stats.components,
        "serial_s": f"{serial:.6g}",
    }
    rows = []
    for row in (r for r in scored if r.best):
        m = row.metrics
        part = np.asarray(row.partition)
        placed = heft(dag, costs.flops, costs.out_bytes, row.units, profile, costs.params, wire)
        rows.append({
            **per_sample, "units": row.units,
            "eps": row.eps, "imbalance": round(m.imbalance, 6), "km1_bytes": m.km1,
            "lambda_norm": round(m.lambda_norm, 6), "eta": round(m.eta, 6),
            "entropy": round(m.entropy, 6), "cs": round(row.score, 6), "balanced": int(m.balanced),
            "latency_s": f"{simulate(dag, costs.flops, costs.out_bytes, part, profile, input_policy=config.input_policy, params=costs.params, wire=wire):.6g}",
            "latency_heft_s": f"{min(serial, simulate(dag, costs.flops, costs.out_bytes, placed, profile, params=costs.params, wire=wire)):.6g}",
            "lower_bound_s": f"{lower_bound(dag, costs.flops, row.units, profile, params=costs.params):.6g}",
        })
    return rows


def evaluate_batch(config_json: str, batch: list[tuple[str, int, int]]) -> list[dict]:
    """Entry point for pool and Dask workers: the config travels as JSON, not a pickle.

    The device profile is resolved once per batch (``local`` reads its cache file).
    """
    config = StudyConfig.model_validate_json(config_json)
    profile = get_profile(config.profile)
    return [row for key in batch for row in evaluate(config, *key, profile)]
