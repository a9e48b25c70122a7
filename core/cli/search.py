"""``parawire search``: the architecture that runs fastest on K devices at the accuracy asked for.

Everything is checked before any trial runs (options, plugin names, the profile, a stored
search's settings). The work is resumable: the Optuna study lives under ``--out`` (or in
``--storage``), the random baseline in two tables beside it; Ctrl-C, then the same
command, continues. docs/search.md explains the method and what it found.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
from parawire.cli.options import MAX_PROCESSES, Endpoint, plugin_names
from parawire.cli.outputs import RESULTS, check_output
from parawire.cli.printing import echo_json, json_option, print_table, table


def _pair(name: str, default: tuple[int, int], text: str):
    return click.option(name, nargs=2, type=click.IntRange(min=0), default=default, show_default=True,
                        metavar="LOW HIGH", help=text)


@click.command()
@click.option("--profile", required=True,
              help="device profile: edge, lan, local (calibrated here) or a testbed preset (t2.micro, rpi3, rpi4)")
@click.option("--devices", type=click.IntRange(min=1), required=True, help="K: devices the network runs on")
@click.option("--max-params", type=click.IntRange(min=1), help="parameter limit (also an objective)")
@click.option("--max-flops", type=click.IntRange(min=1), help="multiply-add limit per inference")
@click.option("--min-accuracy", type=click.FloatRange(0, 1), help="proxy top-1 on digits, a fraction "
              "(also an objective; candidates are trained)")
@click.option("--trials", type=click.IntRange(min=1), default=100, show_default=True,
              help="trial budget; rerun with more to extend a search")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help=f"folder for the study, tables, specs, figure  [default: {RESULTS}/search/PROFILE-kK]")
@click.option("--storage", help="Optuna storage URL (e.g. postgresql://…) shared by several machines "
              "[default: sqlite under --out]")
@click.option("--workers", type=click.IntRange(1, MAX_PROCESSES), help="local processes (default: all cores)")
@click.option("--scheduler", help="tcp://HOST:PORT of a Dask scheduler instead of the local pool")
@click.option("--generator", "-g", "generators", multiple=True, shell_complete=plugin_names("generators"),
              help="generators to search (repeatable; default: every installed one)")
@click.option("--staging", multiple=True, shell_complete=plugin_names("staging"),
              help="staging policies to search (repeatable; default: every installed one)")
@_pair("--nodes", (10, 60), "computation vertices")
@_pair("--base-channels", (4, 32), "channels after the stem (drawn log-uniformly)")
@_pair("--channel-doublings", (0, 4), "channel_cap = base_channels × 2^d")
@click.option("--input-policy", multiple=True, help="input policies to search (repeatable; default: all)")
@click.option("--placement", multiple=True, help="placements tried per candidate, fastest kept "
              "(repeatable; default: partition, schedule and hybrid)")
@click.option("--codec", "codecs", multiple=True, shell_complete=plugin_names("codecs"),
              help="codecs searched for the crossings (repeatable; default: raw). A lossy one (fp16, int8…) "
                   "needs --min-accuracy: each candidate's accuracy is then measured through it")
@click.option("--input-shape", nargs=3, type=click.IntRange(min=1), default=(3, 32, 32), show_default=True,
              metavar="C H W", help="image the latency is predicted for")
@click.option("--engine", shell_complete=plugin_names("engines"),
              help="engine whose calibration `local` and the presets use (default: onnxruntime)")
@click.option("--proxy-epochs", type=click.IntRange(min=1),
              help="epochs of the accuracy proxy, the first of the digits study's training: only lengths "
                   "whose Kendall τ with full training was measured ≥ 0.5 (default: the shortest, now 4)")
@click.option("--seed", "-s", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--no-baseline", is_flag=True, help="skip the random-sampling baseline of the same budget")
@click.option("--against", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="a finished search's --out (e.g. the same targets on --devices 1): compare its fastest "
                   "network with the fastest of this front that is as accurate and no larger")
@click.option("--confirm", is_flag=True, help="run the three fastest of the front on the testbed (root) or on "
              "the --endpoint workers, measured beside predicted")
@click.option("--endpoint", "endpoints", multiple=True, type=Endpoint(),
              help="a running `parawire worker` for --confirm (one per device, repeatable)")
@json_option("the front and the baseline")
def search(profile, devices, max_params, max_flops, min_accuracy, trials, out, storage, workers, scheduler,
           generators, staging, nodes, base_channels, channel_doublings, input_policy, placement, codecs, input_shape,
           engine, proxy_epochs, seed, no_baseline, against, confirm, endpoints, as_json):
    """Search for the fastest architecture on K devices of a profile under the targets given."""
    from parawire.search.confirm import check_confirm
    from parawire.search.profiles import search_profile
    from parawire.search.runner import default_storage, open_search
    from parawire.search.settings import SearchSettings

    settings = SearchSettings.build(
        profile=profile, devices=devices, engine=engine, max_params=max_params, max_flops=max_flops,
        min_accuracy=min_accuracy, trials=trials, generators=generators, stagings=staging, nodes=nodes,
        base_channels=base_channels, channel_doublings=channel_doublings, seed=seed, input_shape=input_shape,
        **{k: v for k, v in (("input_policies", tuple(input_policy)), ("placements", tuple(placement)),
                             ("codecs", tuple(codecs)), ("proxy_epochs", proxy_epochs)) if v},
    )
    if confirm or endpoints:
        check_confirm(settings, endpoints)
    other = read_search(against) if against else None
    out = check_output(out or RESULTS / "search" / f"{profile}-k{devices}", "--out", folder=True)
    search_profile(settings.profile, settings.engine)  # unknown profile refused; `local` measured once, here
    if storage is None:
        out.mkdir(parents=True, exist_ok=True)  # the default storage lives there
    study = open_search(settings, storage or default_storage(out), out.name)
    out.mkdir(parents=True, exist_ok=True)
    doc = run(settings, study, out, workers, scheduler, with_baseline=not no_baseline)
    if other is not None:
        from parawire.search.report import against as compare

        doc["against"] = compare(doc, other, str(against))
    if confirm:
        from parawire.search.confirm import confirm as run_confirm

        doc["confirmed"] = run_confirm(doc, settings, endpoints)
    (out / "search.json").write_text(json.dumps(doc, indent=2) + "\n")
    if as_json:
        echo_json(doc)
        return
    print_table(front_table(doc))
    print_summary(doc, out)


def read_search(folder: Path) -> dict:
    """The ``search.json`` of a finished search folder (for ``--against``), checked first."""
    from parawire.errors import ParawireError

    path = folder / "search.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ParawireError(f"--against {folder}: no readable search.json ({exc.__class__.__name__}); "
                            "give the --out folder of a finished search") from None
    if not isinstance(doc, dict) or "front" not in doc or "devices" not in doc:
        raise ParawireError(f"--against {folder}: {path.name} is not a search result; give a search's --out")
    return doc


def run(settings, study, out: Path, workers, scheduler, with_baseline: bool) -> dict:
    """Finish the search and the baseline (progress on stderr); the result document."""
    from parawire.cli.progress import Progress
    from parawire.search.baseline import baseline_done, run_baseline
    from parawire.search.report import document, plot_front, write_specs
    from parawire.search.runner import finished, run_search, trial_records

    with Progress() as progress:
        done = finished(study)
        if done:
            progress.note(f"resuming {out}: {done} of {settings.trials} trials already there")
        began = time.perf_counter()
        try:
            with progress.bar("search", max(settings.trials, done), "trials", completed=done) as bar:
                run_search(study, settings, workers, scheduler,
                           on_trial=lambda record: record["invalid"] or bar.advance())
        except KeyboardInterrupt:
            progress.note(f"interrupted: {finished(study)} trials are saved in {out}; "
                          "run the same command to continue")
            raise
        progress.note(f"search: {finished(study) - done} trials in {time.perf_counter() - began:.1f} s")
        baseline = None
        if with_baseline:
            done = baseline_done(settings, out)
            with progress.bar("random baseline", settings.trials, "samples", completed=done) as bar:
                baseline = run_baseline(settings, out, workers, scheduler, on_sample=bar.advance)
    records = trial_records(study)
    doc = document(records, settings, baseline, with_baseline)
    write_specs(doc, out)
    plot_front(records, doc, settings, out / "front.png")
    return doc


def placed(entry: dict) -> str:
    """``hybrid on 4`` (``, fp16`` where the crossings are coded)."""
    codec = "" if entry["codec"] == "raw" else f", {entry['codec']}"
    return f"{entry['placement']} on {entry['units']}{codec}"


def front_table(doc: dict):
    out = table(f"Pareto front: {doc['devices']} × {doc['profile']}", [
        "#", "generator", "nodes", "staging", "base\n/cap", "input", "placement", "ms", "acc", "params\nk",
        "MMAC",
    ], numeric=("#", "nodes", "ms", "acc", "params\nk", "MMAC"))
    for i, f in enumerate(doc["front"], start=1):
        s = f["spec"]
        out.add_row(str(i), s["generator"], str(s["nodes"]), s["staging"], f"{s['base_channels']}/{s['channel_cap']}",
                    f["input_policy"], placed(f), f"{f['predicted_ms']:.2f}",
                    "-" if f["accuracy"] is None else f"{f['accuracy']:.3f}", f"{f['params'] / 1e3:.1f}",
                    f"{f['flops'] / 1e6:.2f}")
    return out


def print_summary(doc: dict, out: Path) -> None:
    best, rand = doc["best_predicted_ms"], doc["random_best_predicted_ms"]
    click.echo(f"{doc['trials']} trials, {doc['feasible']} meet the targets, {doc['invalid']} refused by "
               "their generator")
    click.echo(f"best predicted: {best:.2f} ms" if best is not None else "no trial meets the targets")
    if doc["baseline"]:
        text = f"{rand:.2f} ms" if rand is not None else "none meets the targets"
        ratio = f" (search {doc['vs_random']:.2f}× faster)" if doc["vs_random"] else ""
        click.echo(f"best of random sampling, same budget: {text}{ratio}")
    if "against" in doc:
        a = doc["against"]
        if a["match"] is None:
            click.echo(f"against {a['source']}: no member of this front is as accurate and as small as its best")
        else:
            click.echo(f"against {a['source']}: its best runs {a['best_ms']:.2f} ms on {a['devices']} device(s); "
                       f"the fastest as accurate and no larger here {a['match']['predicted_ms']:.2f} ms on "
                       f"{doc['devices']}: {a['speedup']:.2f}× (predicted)")
    for row in doc.get("confirmed", []):
        testbed = (f" (testbed model {row['testbed_predicted_ms']:.1f}, speed-up over 1 device {row['speedup']})"
                   if row["testbed_predicted_ms"] is not None else "")
        click.echo(f"confirmed #{row['rank']}: predicted {row['search_predicted_ms']:.1f} ms, measured "
                   f"{row['measured_ms']:.1f} ms{testbed}")
    click.echo(f"wrote {out}/search.json, front.png, best-NN.json")
