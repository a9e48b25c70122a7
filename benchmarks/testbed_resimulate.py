"""Re-simulate recorded testbed points with other model costs, without the testbed.

Every point that ``parawire testbed run --json`` and ``benchmarks/testbed_figure13.py``
record holds its partition, its profile and its measured latency; this replays them
through the current latency model, each row's compute refitted to its own 1-device
median (as ``testbed run`` fits it), with the message and engine-call costs and the
round-robin turn of a fan-out's copies (``INTERLEAVE_BYTES``) given here, and reports
how many multi-device points fall within 15 % of measured. That is how a
model change is tried on hours of measurements in seconds (docs/testbed.md, fourth
round). ``--refit-message`` fits each run's message cost again from its own recorded
calibration, as ``testbed calibrate`` would under the model being tried: a change that
explains part of a split's cost lowers the fitted message cost, which a replay with the
recorded figure misses (docs/testbed.md, sixth round). ``--by-point`` judges each point
by the median error of its runs in all the files given (runs on other days), as issue 28
counts. Rows measured with a tiling or with codecs are skipped (their plans are not in
the record).

    .venv/bin/python benchmarks/testbed_resimulate.py docs/figures/testbed_fig13_32_third_round.json \\
        --message-ms 0.15 0.2 0.25 --call-ms 0.1 0.12 --interleave-kb 16 64 256
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

WITHIN = 0.15
SHORT = ("generator", "nodes", "seed", "input_shape")
"""What records before the whole spec named of a generated architecture."""


class Replayed(NamedTuple):
    """One multi-device point replayed: ``error`` is predicted / measured − 1; ``point``
    names the network and input policy the same in every file, so that runs of one point
    (``point`` and ``devices``) on other days can be taken together (``--by-point``)."""

    label: str
    devices: int
    error: float
    point: str


def rows(path: Path) -> list[dict]:
    """The recorded rows of a Figure-13 list, of one ``testbed run --json`` record or of a
    ``{"runs": {name: record}}`` file; a ValueError naming the file for anything else."""
    try:
        data = json.loads(path.read_text())
        if isinstance(data, dict):  # one `testbed run --json` record, or named ones under "runs"
            found = [data] if "points" in data else list(data["runs"].values())
        else:
            found = data
        if not all(isinstance(row, dict) and {"arch", "points", "profile", "input_policy"} <= set(row)
                   for row in found):
            raise ValueError("a row lacks arch, points, profile or input_policy")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a testbed record ({exc.__class__.__name__}: {exc}); give files that "
                         "`parawire testbed run --json` or benchmarks/testbed_figure13.py wrote") from None
    return found


def cost(text: str) -> float:
    """A cost on the command line: a number ≥ 0."""
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"got {text}; give a cost ≥ 0")
    return value


def spec_of(row: dict, main_spec):
    """The row's architecture: its recorded spec. Records before the whole spec was kept
    hold only :data:`SHORT`: a generated architecture with the defaults, or
    ``main_spec`` where those fields are its own."""
    from parawire.graph.spec import ArchitectureSpec

    arch = row["arch"]
    if main_spec is not None and set(arch) == set(SHORT) and all(
            arch[k] == main_spec.model_dump(mode="json")[k] for k in SHORT):
        return main_spec
    return ArchitectureSpec(**arch)


@functools.cache
def calibration_networks() -> list[tuple]:
    """The calibration networks and their plans, as ``testbed calibrate`` runs them
    (built once per process: every replayed row refits against the same ones)."""
    from parawire.testbed.calibrate import calibration_plans

    return calibration_plans()


@functools.cache
def _built(spec_json: str):  # type: ignore[no-untyped-def]
    from parawire.graph.spec import ArchitectureSpec
    from parawire.pipeline.build import build_architecture

    return build_architecture(ArchitectureSpec.model_validate_json(spec_json))


def arch_of(row: dict, main_spec):  # type: ignore[no-untyped-def]
    """The row's architecture (:func:`spec_of`), built once per process per spec."""
    return _built(spec_of(row, main_spec).model_dump_json())


def refit_message(row: dict, base, cache: dict) -> dict:
    """The message cost the row's calibration would fit under the current model: its
    recorded calibration latencies (``calibration_ms``: each calibration network on one
    and on two devices) through :func:`parawire.testbed.calibrate.fit_message_cpu`, as
    ``testbed calibrate`` fits it (the calibration's own ping), and the row's link latency
    net of it (the run's own ping: ``base``'s latency plus the two message ends it was
    net of). ``{}`` when the row records no calibration latencies (profile as recorded)."""
    from parawire.executor.tiles import predicted_s
    from parawire.testbed.calibrate import fit_message_cpu, link_latency

    record = row.get("calibration") or {}
    if "calibration_ms" not in record or "message_latency_s" not in record:
        return {}
    key = json.dumps(record, sort_keys=True)
    if key not in cache:
        networks = calibration_networks()
        half_rtt = record["message_latency_s"]

        def predict(network: int, units: int, scale: float, message: float) -> float:
            arch, plans = networks[network]
            profile = base.model_copy(update={"message_cpu_s": message,
                                              "message_latency_s": link_latency(half_rtt, message)})
            return predicted_s(arch, plans[units], profile.slowed(scale))

        latencies = [(one / 1e3, two / 1e3) for one, two in record["calibration_ms"]]
        message = fit_message_cpu(predict, latencies)
        cache[key] = message
    run_half_rtt = base.message_latency_s + 2 * base.message_cpu_s
    return {"message_cpu_s": cache[key], "message_latency_s": link_latency(run_half_rtt, cache[key])}


def errors(paths: list[Path], overrides: dict, main_spec: Path | None,
           refit: bool = False) -> list[Replayed]:
    """Every multi-device point, replayed (:class:`Replayed`); ``refit``: each row's
    message cost fitted again from its calibration (:func:`refit_message`)."""
    from parawire.executor.plan import plan_for
    from parawire.executor.tiles import predicted_s
    from parawire.graph.spec import ArchitectureSpec
    from parawire.latency.model import DeviceProfile
    from parawire.latency.profiles import fit_compute_scale

    main = None
    if main_spec is not None:
        try:
            main = ArchitectureSpec.model_validate_json(main_spec.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"--main-spec {main_spec}: not an architecture spec ({exc.__class__.__name__}); "
                             "give the spec file the recorded rows ran (parawire generate -o writes one)") from None
    fits: dict = {}
    out = []
    for path in paths:
        for row in rows(path):
            points = {p["devices"]: p for p in row["points"]}
            if 1 not in points or any(p.get("tiling") or p.get("codec", "raw") != "raw" for p in points.values()):
                continue
            spec = spec_of(row, main)
            arch = _built(spec.model_dump_json())
            fields = {k: v for k, v in row["profile"].items() if k in DeviceProfile.model_fields}
            base = DeviceProfile(**{**fields, **overrides})
            if refit:
                base = base.model_copy(update=refit_message(row, base, fits))
            plans = {n: plan_for(arch, p["partition"], units=n, input_policy=row["input_policy"])
                     for n, p in points.items()}
            if any(plans[n].cut_bytes != p["model_bytes"] for n, p in points.items()):
                print(f"skipped {path.name} {row['arch']}: not the recorded network (give its spec with --main-spec)")
                continue
            scale = fit_compute_scale(points[1]["measured_ms"] / 1e3,
                                      lambda s: predicted_s(arch, plans[1], base.slowed(s)))
            profile = base.slowed(scale)
            label = f"{path.stem} {row['arch']['generator']}-{row['input_policy']}"
            network = (f"{spec.generator.split(':')[-1]}-{spec.nodes} seed {spec.seed} {spec.input_shape[-1]} px "
                       f"{row['input_policy']} ({hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:6]})")
            for n, p in sorted(points.items()):
                if n > 1:
                    error = predicted_s(arch, plans[n], profile) * 1e3 / p["measured_ms"] - 1
                    out.append(Replayed(label, n, error, network))
    return out


def by_point(found: list[Replayed]) -> list[Replayed]:
    """One :class:`Replayed` per point: the median error of its runs, in first-seen order,
    labelled with the runs' errors. The testbed's quarter-core devices differ by ±30 % from
    one day to the next, which the 1-device fit follows only in part (docs/testbed.md,
    seventh round), so a point's error is judged on several runs, not one."""
    runs: dict[tuple[str, int], list[Replayed]] = {}
    for r in found:
        runs.setdefault((r.point, r.devices), []).append(r)
    return [Replayed(f"{point}, median of {len(rs)} runs ({', '.join(f'{r.error:+.0%}' for r in rs)}):",
                     devices, float(np.median([r.error for r in rs])), point)
            for (point, devices), rs in runs.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path, help="recorded testbed JSON files")
    parser.add_argument("--message-ms", nargs="+", type=cost, default=[None],
                        help="message_cpu_s to try, ms (default: each row's own)")
    parser.add_argument("--call-ms", nargs="+", type=cost, default=[None],
                        help="call_s to try, ms (default: each row's own, 0 for rows recorded before it)")
    parser.add_argument("--interleave-kb", nargs="+", type=cost, default=[None],
                        help="bytes a fan-out's copy passes per turn, KB (default: the model's)")
    parser.add_argument("--main-spec", type=Path, default=Path("results/demo/most-concurrent.json"),
                        help="the spec of rows recorded from a spec file (the main job's by default)")
    parser.add_argument("--refit-message", action="store_true",
                        help="fit each row's message cost again from its recorded calibration latencies,"
                             " as `testbed calibrate` would under the current model")
    parser.add_argument("--by-point", action="store_true",
                        help="one error per point: the median over the files that measured it (runs on"
                             " other days), as issue 28 counts")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every point's error")
    args = parser.parse_args()
    main_spec = args.main_spec if args.main_spec.exists() else None
    import parawire.latency.model as model

    default_turn = model.INTERLEAVE_BYTES
    for message, call, turn in itertools.product(args.message_ms, args.call_ms, args.interleave_kb):
        overrides = {k: v / 1e3 for k, v in (("message_cpu_s", message), ("call_s", call)) if v is not None}
        model.INTERLEAVE_BYTES = default_turn if turn is None else turn * 1024
        try:
            found = errors(args.files, overrides, main_spec, args.refit_message)
        except ValueError as exc:  # a file that is not a record, or a main spec that is not a spec
            parser.error(str(exc).splitlines()[0])
        if args.by_point:
            found = by_point(found)
        err = np.array([r.error for r in found])
        by = {n: np.array([r.error for r in found if r.devices == n]) for n in sorted({r.devices for r in found})}
        counts = ", ".join(f"{n} devices {int(np.sum(abs(e) <= WITHIN))} of {len(e)} (median {np.median(e):+.1%})"
                           for n, e in by.items())
        setting = f"message {message} ms, call {call} ms, turn {model.INTERLEAVE_BYTES / 1024:g} KB"
        what = "points (median of their runs)" if args.by_point else "runs of points"
        print(f"{setting}: {int(np.sum(abs(err) <= WITHIN))} of {len(err)} {what} within 15 %; {counts}")
        if args.verbose:
            for r in found:
                print(f"  {r.label} {r.devices} devices {r.error:+.1%}")


if __name__ == "__main__":
    main()
