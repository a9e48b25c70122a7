"""Figure 13 on the emulated edge cluster: latency against device count, measured and modelled.

    sudo .venv/bin/python benchmarks/testbed_figure13.py                       # the whole figure
    sudo .venv/bin/python benchmarks/testbed_figure13.py --sizes 32 --generators dp fb --runs 5
    sudo .venv/bin/python benchmarks/testbed_figure13.py --engine torch    # torch eager instead
    sudo .venv/bin/python benchmarks/testbed_figure13.py --sizes 224 --placement auto   # tiles where the model says so
    sudo .venv/bin/python benchmarks/testbed_figure13.py --sizes 32 --placement auto --codec auto  # best of both per point

For every generator × image size × input policy, ``parawire.testbed.runner.run_points``
brings up one testbed of the largest device count (preset ``t2.micro`` unless
``--preset``), runs a 40-vertex network (seed 0) on each device count with the real
executor and one engine (``--engine``, default the fastest, onnxruntime; the
single-device baseline runs the same one), checks the logits (1e-4 relative) and the
bytes against Λ, and predicts each point with the testbed profile of that engine fitted
to that network's single-device run. ``--codec NAME`` (``--codec-param NAME=VALUE``) sends every crossing
through one codec; ``--codec auto`` lets each multi-device point take the codecs the
latency model finds fastest within ``--max-top1-change`` (checked on a calibration set
first), each level placed by ``--placement`` (with ``auto``: the best of partition,
schedule and tiles for that level's bytes), and each point records the codec it ran (``codec``) with its top-1 agreement
with one exact process (``accuracy``). Results go to a JSON file one entry at a time,
keyed by network, size, policy, engine, placement and codec (a rerun skips entries already there, so an
interrupted run resumes; ``--fresh`` starts over); the figure and the table are redrawn
from the entries of ``--engine``. ``/proc/loadavg`` is recorded per entry: quotas cap a
device's CPU share but cannot reserve it, so on a busy machine the devices run slower
than their quota and the spread grows.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from parawire.pipeline.placement import PLACEMENTS
from parawire.registry.records import DEFAULT_ENGINE
from parawire.testbed.rounds import ROUNDS

GENERATORS = ("dp", "er", "ba", "ws", "fb")
FIGURES = Path(__file__).resolve().parent.parent / "docs" / "figures"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def key(entry: dict) -> str:
    return entry_key(entry["arch"]["generator"], entry["arch"]["input_shape"][-1], entry["input_policy"],
                     entry["engine"], entry.get("placement", "partition"), entry.get("codec", "raw"))


def entry_key(generator: str, size: int, policy: str, engine: str, placement: str, codec: str) -> str:
    """One entry per run setting; raw entries keep the key they had before codecs existed."""
    base = f"{generator}-{size}-{policy}-{engine}-{placement}"
    return base if codec == "raw" else f"{base}-{codec}"


def plot(entries: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({e["arch"]["input_shape"][-1] for e in entries})
    policies = [p for p in ("stem", "scatter") if any(e["input_policy"] == p for e in entries)]
    fig, axes = plt.subplots(len(sizes), len(policies), figsize=(5 * len(policies), 3.6 * len(sizes)),
                             squeeze=False)
    colours = dict(zip(GENERATORS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for r, size in enumerate(sizes):
        for c, policy in enumerate(policies):
            ax = axes[r][c]
            for e in entries:
                if e["arch"]["input_shape"][-1] != size or e["input_policy"] != policy:
                    continue
                g = e["arch"]["generator"]
                xs = [p["devices"] for p in e["points"]]
                ax.plot(xs, [p["measured_ms"] for p in e["points"]], "o-", color=colours.get(g), label=g.upper())
                ax.plot(xs, [p["predicted_ms"] for p in e["points"]], "x--", color=colours.get(g), alpha=0.7)
            ax.set_title(f"{size}×{size}, input policy {policy}, {entries[0]['engine']}, "
                         f"{entries[0].get('placement', 'partition')} placement, "
                         f"codec {entries[0].get('codec', 'raw')}", fontsize=9)
            ax.set_xlabel("devices")
            ax.set_ylabel("ms per inference")
            ax.set_yscale("log")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, title="measured ─  model ╌", title_fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def table(entries: list[dict]) -> str:
    lines = ["| net | px | policy | " + " | ".join(["devices: measured / model ms (speed-up)"]) + " |",
             "|---|---|---|---|"]
    for e in entries:
        cells = ", ".join(f"{p['devices']}: {p['measured_ms']:.0f} / {p['predicted_ms']:.0f}"
                          f" ({p['speedup']:.2f}×{point_codec(p)})" for p in e["points"])
        lines.append(f"| {e['arch']['generator'].upper()} | {e['arch']['input_shape'][-1]} | "
                     f"{e['input_policy']} | {cells} |")
    return "\n".join(lines)


def point_codec(point: dict) -> str:
    """The codec a multi-device point ran, when not raw (one device sends nothing)."""
    codec = point.get("codec", "raw")
    return "" if codec == "raw" else f", {codec}"


TARGET = 0.15
"""Issue 28: every point within 15 % of measured."""


def breakdown(point: dict) -> str:
    """Where an off point's time went: per unit the workers' compute (wall, CPU) against the
    model's, its engine calls, CFS throttling and link busy time per inference."""
    lines = [(f"  {point['devices']} devices off by {point['error']:+.0%}: per unit wall / CPU / model ms, "
              "calls, throttled periods (ms), link out / in busy ms, device CPU ms inside the inference")]
    kernel = {k["device"]: k for k in point.get("kernel", [])}
    for u in point.get("units", []):
        k = kernel.get(u["unit"], {})
        lines.append(f"    unit {u['unit']}: {u['wall_ms']:.1f} / {u['cpu_ms']:.1f} / {u['model_ms']:.1f}, "
                     f"{u['calls']:g} calls, {k.get('throttled', 0):g} ({k.get('throttled_ms', 0):.1f} ms), "
                     f"{k.get('out', {}).get('busy_ms', 0):.1f} / {k.get('in', {}).get('busy_ms', 0):.1f}, "
                     f"{k.get('window_cpu_ms', 0):.1f}")
    return "\n".join(lines)


def errors(entries: list[dict]) -> str:
    """The model's error per device count over every entry: median, worst, points within the target."""
    import statistics

    lines = []
    for n in sorted({p["devices"] for e in entries for p in e["points"]}):
        errs = [p["error"] for e in entries for p in e["points"] if p["devices"] == n]
        lines.append(f"{n} devices: median error {statistics.median(errs):+.1%}, worst "
                     f"{max(errs, key=abs):+.1%}, {sum(abs(x) <= TARGET for x in errs)} of {len(errs)} within "
                     f"{TARGET:.0%}")
    return "\n".join(lines)


def recorded(out: Path, fresh: bool) -> list[dict]:
    """The entries already in ``out`` (none with ``fresh``), once ``out`` is known to be
    writable: each entry is written as it ends, and a path that fails then loses the
    minutes of the entry just measured. Tried by writing, not by permissions alone: the
    testbed runs as root, whom ``os.access`` allows anything (``/proc/x/f.json`` too)."""
    import tempfile

    from parawire.cli.outputs import check_output, prepare
    from parawire.errors import ParawireError

    check_output(out, "--out", suffixes=(".json",))
    try:
        with tempfile.NamedTemporaryFile(dir=prepare(out).parent):
            pass
    except OSError as exc:
        raise ParawireError(f"--out {out}: cannot write there ({exc.strerror}); choose another path") from None
    if fresh or not out.exists():
        return []
    try:
        entries = json.loads(out.read_text())
    except (OSError, ValueError) as exc:
        raise ParawireError(f"--out {out}: not this script's JSON ({exc}); --fresh starts it over") from None
    if not isinstance(entries, list):
        raise ParawireError(f"--out {out}: not this script's JSON (not a list of entries); --fresh starts it over")
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generators", nargs="+", default=list(GENERATORS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[32, 224])
    parser.add_argument("--policies", nargs="+", default=["stem", "scatter"])
    parser.add_argument("--devices", nargs="+", type=int, default=[1, 2, 4, 6])
    parser.add_argument("--nodes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=5, help="timed inferences per point (224 px: a third)")
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help="rounds each point's runs are spread over, every device count in each")
    parser.add_argument("--preset", default="t2.micro")
    parser.add_argument("--engine", default=DEFAULT_ENGINE, help="inference engine of every device")
    parser.add_argument("--placement", default="partition", choices=list(PLACEMENTS),
                        help="the paper's partition (default) or the latency model's schedule")
    parser.add_argument("--codec", default="raw",
                        help="codec of every crossing (raw, fp16, bf16, int8, zstd, …) or auto: per point, "
                             "the fastest the latency model finds within --max-top1-change")
    parser.add_argument("--codec-param", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter of --codec (repeatable)")
    parser.add_argument("--max-top1-change", type=float, default=0.005,
                        help="--codec auto: largest share of calibration inputs whose top-1 class may change")
    parser.add_argument("--out", type=Path, default=FIGURES / "testbed_fig13.json")
    parser.add_argument("--fresh", action="store_true", help="ignore the results already in --out")
    args = parser.parse_args()

    import click
    from parawire.cli.options import codec_plan
    from parawire.cli.params import parse_params
    from parawire.errors import ParawireError
    from parawire.graph.spec import ArchitectureSpec
    from parawire.registry.manager import resolve_engine
    from parawire.testbed.presets import get_preset
    from parawire.testbed.rounds import split_runs
    from parawire.testbed.runner import run_points

    try:  # a bad preset, engine, count, codec, parameter or --out: one line before the first testbed
        preset = get_preset(args.preset)
        resolve_engine(args.engine)
        split_runs(args.runs, args.rounds)
        codecs = codec_plan(args.codec, parse_params(tuple(args.codec_param), "--codec-param"), auto=True)
        entries = recorded(args.out, args.fresh)
    except (ParawireError, click.BadParameter) as exc:
        parser.error(exc.format_message() if isinstance(exc, click.BadParameter) else str(exc))
    codec = "auto" if codecs is None else codecs.label  # codecs None: --codec auto
    done = {key(e) for e in entries}
    for size in args.sizes:
        for generator in args.generators:
            for policy in args.policies:
                spec = ArchitectureSpec(generator=generator, nodes=args.nodes, seed=args.seed,
                                        input_shape=(3, size, size))
                if entry_key(generator, size, policy, args.engine, args.placement, codec) in done:
                    continue
                started, load = time.time(), loadavg()
                entry = run_points(spec, args.devices, preset, input_policy=policy, engine=args.engine,
                                   placement=args.placement, codecs=codecs, max_top1_change=args.max_top1_change,
                                   runs=max(1, args.runs // 3) if size >= 128 else args.runs, warmup=1,
                                   rounds=args.rounds)
                entry["codec"] = codec
                entry["loadavg_before"], entry["loadavg_after"] = load, loadavg()
                entry["seconds"] = round(time.time() - started, 1)
                entries.append(entry)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(entries, indent=1) + "\n")
                worst = max(abs(p["error"]) for p in entry["points"])
                print(f"{generator} {size}px {policy} {args.engine} {args.placement} codec {codec}: "
                      + ", ".join(f"{p['devices']}: {p['measured_ms']:.0f}/{p['predicted_ms']:.0f} ms{point_codec(p)}"
                                  for p in entry["points"])
                      + f"; worst model error {worst:.0%}; bytes = Λ: "
                      + str(all(p["bytes"] == p["model_bytes"] for p in entry["points"]))
                      + f"; equal: {all(p['equal'] for p in entry['points'])}; load {load}", flush=True)
                for p in entry["points"]:
                    if abs(p["error"]) > TARGET:
                        print(breakdown(p), flush=True)
    shown = [e for e in entries if e["engine"] == args.engine and e.get("placement", "partition") == args.placement
             and e.get("codec", "raw") == codec]
    if shown:
        suffix = ("" if args.placement == "partition" else f"-{args.placement}") + (
            "" if codec == "raw" else f"-codec-{args.codec}")
        plot(shown, args.out.with_name(args.out.stem + suffix + ".png"))
        print(table(shown))
        print(errors(shown))


if __name__ == "__main__":
    main()
