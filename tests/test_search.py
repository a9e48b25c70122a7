"""``parawire search``: the space read from plugin models, the settings, resume, refusals,
the JSON document, and a seeded search against random sampling at the same budget.

Searches here predict latency on the shipped ``edge`` profile (no calibration) and run
in this process (``--workers 1``), so they are deterministic; accuracy targets are left
out except in one slow test, because they train networks.
"""

from __future__ import annotations

import json
from typing import Literal

import networkx as nx
import pytest
from parawire.cli import main
from parawire.registry.hookspecs import hookimpl
from parawire.registry.records import GeneratorPlugin
from parawire.search.space import Candidate, Dimension, SearchSpace, dimensions_of
from pydantic import BaseModel, ConfigDict, Field

TINY = ["--profile", "edge", "--devices", "2", "--workers", "1", "--nodes", "6", "14",
        "--base-channels", "4", "8", "--channel-doublings", "0", "2"]
GENERATORS = ["-g", "dp", "-g", "er", "-g", "chain"]


class RingParams(BaseModel):
    """A third party's generator parameters, every kind of bound the space reads."""

    model_config = ConfigDict(extra="forbid")

    p: float = Field(0.3, ge=0.05, le=0.9)
    hops: int = Field(2, gt=0, lt=6)
    reach: int = Field(3, ge=1, le=500)
    mode: Literal["near", "far"] = "near"
    wrap: bool = True
    width: int = Field(4, ge=1)  # no upper bound: not searchable, kept at its default


def ring(nodes: int, params: RingParams, rng) -> nx.Graph:
    graph = nx.cycle_graph(nodes) if params.wrap else nx.path_graph(nodes)
    for i in range(nodes):
        for j in range(i + 2, min(nodes, i + 2 + params.hops)):
            if rng.random() < params.p:
                graph.add_edge(i, j)
    return graph


class RingPlugin:
    @hookimpl
    def parawire_generators(self):
        return [GeneratorPlugin("ring3", "test ring", RingParams, ring)]


def test_the_space_of_a_parameter_model_is_exactly_its_bounds():
    dims, fixed = dimensions_of(RingParams, "ring3")
    assert dims == (
        Dimension("ring3.p", "p", "float", 0.05, 0.9),
        Dimension("ring3.hops", "hops", "int", 1, 5),  # gt 0, lt 6: the integers 1..5
        Dimension("ring3.reach", "reach", "int", 1, 500, log=True),  # wider than two decades
        Dimension("ring3.mode", "mode", "categorical", choices=("near", "far")),
        Dimension("ring3.wrap", "wrap", "categorical", choices=(False, True)),
    )
    assert fixed == {"width": 4}


def test_builtin_generators_are_searched_within_their_models(parawire_plugins):
    from parawire.search.settings import SearchSettings

    space = SearchSettings.build(profile="edge", devices=2, trials=1, generators=("dp", "ws"),
                                 stagings=("probabilistic", "greedy")).space()
    assert [(d.name, d.low, d.high) for d in space.generators["dp"]] == [
        ("dp.p", 0.0, 1.0), ("dp.alpha", 0.0, 100.0), ("dp.beta", 0.0, 100.0)]
    assert [(d.name, d.low, d.high, d.log) for d in space.generators["ws"]] == [
        ("ws.k", 2, 1000, True), ("ws.p", 0.0, 1.0, False)]
    assert [d.name for d in space.stagings["probabilistic"]] == ["staging.probabilistic.p"]
    assert space.stagings["greedy"] == ()
    assert space.options == {"input_policy": ("stem", "scatter")}


def test_a_third_party_generator_is_searched_without_code_in_parawire(register_plugin, tmp_path, capsys):
    register_plugin(RingPlugin(), name="ringdist:ring3")
    main(["search", *TINY, "-g", "ring3", "--trials", "4", "--no-baseline", "--json",
          "--out", str(tmp_path / "r")])
    doc = json.loads(capsys.readouterr().out)
    assert doc["trials"] == 4 and doc["front"]
    spec = doc["front"][0]["spec"]
    assert spec["generator"] == "ring3" and set(spec["params"]) == {"p", "hops", "reach", "mode", "wrap"}
    assert 0.05 <= spec["params"]["p"] <= 0.9 and spec["params"]["mode"] in ("near", "far")


@pytest.mark.parametrize(("devices", "counts"), [(1, [1]), (2, [1, 2]), (4, [1, 2, 4]), (6, [1, 2, 4, 6])])
def test_a_candidate_is_placed_on_k_devices_and_on_fewer(devices, counts):
    from parawire.search.objective import unit_counts

    assert unit_counts(devices) == counts


def test_fewer_devices_are_used_when_they_are_predicted_faster():
    from parawire.graph.spec import ArchitectureSpec
    from parawire.latency.profiles import EDGE
    from parawire.pipeline.build import build_architecture
    from parawire.search.objective import predicted_latency

    chain = build_architecture(ArchitectureSpec(generator="chain", nodes=8, base_channels=4, channel_cap=8))
    seconds, _, units = predicted_latency(chain, 4, EDGE, ("partition",), "stem")
    assert units == 1  # a chain gains nothing from a second device and pays its messages
    assert seconds == predicted_latency(chain, 1, EDGE, ("partition",), "stem")[0]


def test_a_candidate_is_placed_as_run_places_it_tiles_included():
    """The search predicts each candidate with the placement `run` would deploy, the
    tile-parallel hybrid among them: a 64-px DP network on LAN devices is predicted
    fastest tiled on 4, at exactly what `choose_placement` says, where the partitions
    alone keep it on one device."""
    from parawire.graph.spec import ArchitectureSpec
    from parawire.latency.profiles import LAN
    from parawire.pipeline.build import build_architecture
    from parawire.pipeline.hybrid import choose_placement
    from parawire.search.objective import predicted_latency
    from parawire.search.settings import SEARCHED

    arch = build_architecture(ArchitectureSpec(generator="dp", nodes=12, input_shape=(3, 64, 64), base_channels=16))
    untiled = predicted_latency(arch, 4, LAN, ("partition", "schedule"), "stem")
    seconds, placement, units = predicted_latency(arch, 4, LAN, SEARCHED, "stem")
    assert SEARCHED == ("partition", "schedule", "hybrid") and (placement, units) == ("hybrid", 4)
    assert seconds == choose_placement(arch, 4, LAN, "hybrid").predicted_s < untiled[0]
    assert untiled[2] == 1


def test_a_candidate_travels_as_json():
    cand = Candidate({"generator": "dp", "nodes": 9}, {"input_policy": "stem"})
    assert Candidate.from_json(json.loads(json.dumps(cand.to_json()))) == cand


@pytest.mark.parametrize(("argv", "message"), [
    (["--nodes", "3", "20", "--devices", "4"], "raise --nodes LOW to at least 4"),
    (["--nodes", "30", "20"], "nodes: low 30 above high 20"),
    (["--profile", "nokia"], "--profile: got 'nokia'; use one of edge, lan, local, t2.micro, rpi3, rpi4"),
    (["--placement", "random"], "placements: got random; use some of partition, schedule, hybrid, auto"),
    (["-g", "nosuch"], "nosuch"),
    (["--confirm"], "--confirm: needs a testbed preset as --profile"),
    (["--proxy-epochs", "2"], "proxy_epochs: 2 epochs ranks as full training only with τ = 0.39 (below 0.5"),
    (["--storage", "foo://bar"], "--storage foo://bar: not a usable Optuna storage"),
    (["--trials", str(10**21)], "trials: got 1000000000000000000000; Input should be less than or equal to 100000"),
    (["--storage", "sqlite:////nonexistent/x.db"], "give a database URL such as sqlite:///PATH"),
])
def test_bad_input_is_one_line_before_any_work(tmp_path, capsys, argv, message):
    out = tmp_path / "s"
    base = ["search", "--profile", "edge", "--devices", "2", "--trials", "3", "--out", str(out)]
    with pytest.raises(SystemExit) as exit_info:
        main([*base, *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert not out.exists()


def search(tmp_path, capsys, *argv) -> dict:
    """A search in ``tmp_path/s`` (generators dp, er, chain unless ``argv`` names some)."""
    generators = [] if "-g" in argv else GENERATORS
    main(["search", *TINY, *generators, "--json", "--out", str(tmp_path / "s"), *argv])
    return json.loads(capsys.readouterr().out)


def test_resume_continues_the_trial_count_and_keeps_the_trials(tmp_path, capsys):
    import optuna
    from parawire.search.runner import default_storage

    first = search(tmp_path, capsys, "--trials", "3", "--no-baseline")
    study = optuna.load_study(study_name="s", storage=default_storage(tmp_path / "s"))
    before = [t.params for t in study.trials]
    second = search(tmp_path, capsys, "--trials", "5", "--no-baseline")
    study = optuna.load_study(study_name="s", storage=default_storage(tmp_path / "s"))
    assert first["trials"] == 3 and second["trials"] == 5
    assert [t.params for t in study.trials][: len(before)] == before  # nothing recomputed or lost


def test_an_interrupted_search_resumes_where_it_stopped(tmp_path, monkeypatch):
    from parawire.search import runner
    from parawire.search.runner import default_storage, finished, open_search, run_search
    from parawire.search.settings import SearchSettings

    settings = SearchSettings.build(profile="edge", devices=2, trials=5, generators=("dp",), nodes=(6, 12))
    storage = default_storage(tmp_path)
    seen = []

    def stop_after_two(record):
        seen.append(record)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_search(open_search(settings, storage, "x"), settings, workers=1, on_trial=stop_after_two)
    study = open_search(settings, storage, "x")
    assert finished(study) == 2
    run_search(study, settings, workers=1)
    assert finished(study) == 5
    assert runner.trial_records(study)[:2] == [{"trial": i, **r} for i, r in enumerate(seen)]


def test_a_new_search_starts_from_the_papers_configuration_of_each_searched_generator(tmp_path):
    from parawire.search.runner import default_storage, open_search, run_search
    from parawire.search.settings import SearchSettings

    settings = SearchSettings.build(profile="edge", devices=2, trials=3, generators=("dp", "chain", "er"),
                                    stagings=("probabilistic", "uniform"), nodes=(10, 40),
                                    base_channels=(4, 8), channel_doublings=(0, 2))
    study = open_search(settings, default_storage(tmp_path), "w")
    run_search(study, settings, workers=1)
    first = [t.params for t in study.trials[:3]]
    # the grid's order (er, ba, ws, dp, fb, chain) restricted to the generators searched;
    # 40 vertices and base 8 are in the space, the study's cap 64 (3 doublings) is not: drawn
    assert [p["generator"] for p in first] == ["er", "dp", "chain"]
    assert all(p["nodes"] == 40 and p["base_channels"] == 8 and p["staging"] == "probabilistic"
               and p["staging.probabilistic.p"] == 0.5 and p["input_policy"] == "stem" for p in first)
    assert first[0]["er.p"] == 0.2 and (first[1]["dp.p"], first[1]["dp.alpha"], first[1]["dp.beta"]) == (0.5, 1, 1)
    assert "channel_doublings" not in study.trials[0].system_attrs["fixed_params"]
    run_search(open_search(settings.model_copy(update={"trials": 5}), default_storage(tmp_path), "w"),
               settings.model_copy(update={"trials": 5}), workers=1)
    assert len(study.trials) == 5  # a resumed search is not warm-started again


def test_a_candidate_outside_the_space_keeps_only_what_the_space_holds():
    space = SearchSpace({"dp": (Dimension("dp.p", "p", "float", 0.0, 1.0),)}, {"uniform": ()}, (10, 20), (4, 8),
                        (0, 2), {"input_policy": ("stem",)})
    spec = {"generator": "dp", "params": {"p": 0.5}, "staging": "greedy", "staging_params": {},
            "base_channels": 8, "channel_cap": 24, "nodes": 40}
    assert space.params_of(Candidate(spec, {"input_policy": "scatter"})) == {
        "generator": "dp", "dp.p": 0.5, "base_channels": 8}  # greedy, ×3 cap, 40 nodes, scatter: drawn
    assert space.params_of(Candidate({**spec, "generator": "er"}, {})) == {"base_channels": 8}


def test_changed_settings_are_refused_naming_what_differs(tmp_path, capsys):
    search(tmp_path, capsys, "--trials", "2", "--no-baseline")
    with pytest.raises(SystemExit) as exit_info:
        main(["search", *TINY[:3], "4", *TINY[4:], *GENERATORS, "--trials", "2", "--no-baseline",
              "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1
    assert "made with other settings (devices 2 → 4)" in err[0] and "choose another --out" in err[0]


def test_the_json_document_and_the_files(tmp_path, capsys):
    doc = search(tmp_path, capsys, "--trials", "6", "--max-params", "4000")
    assert {"front", "best_predicted_ms", "random_best_predicted_ms", "trials"} <= set(doc)
    assert doc["trials"] == 6 and doc["baseline"] is True
    for item in doc["front"]:
        assert {"spec", "predicted_ms", "accuracy", "params"} <= set(item)
        assert item["params"] <= 4000 and item["accuracy"] is None and 1 <= item["units"] <= 2
    assert doc["best_predicted_ms"] == doc["front"][0]["predicted_ms"]
    out = tmp_path / "s"
    assert json.loads((out / "search.json").read_text()) == doc
    assert (out / "front.png").stat().st_size > 0
    assert len(list(out.glob("best-*.json"))) == min(len(doc["front"]), 10)
    assert len((out / "baseline.csv").read_text().splitlines()) == 1 + 6
    again = search(tmp_path, capsys, "--trials", "6", "--max-params", "4000")  # resumes: nothing to compute
    assert again == doc and len((out / "baseline.csv").read_text().splitlines()) == 1 + 6


def test_pareto_front_keeps_only_the_feasible_non_dominated():
    from parawire.search.report import pareto
    from parawire.search.settings import SearchSettings

    settings = SearchSettings.build(profile="edge", devices=2, trials=1, max_params=100, generators=("dp",))

    def rec(ms, params, invalid=None):
        return {"predicted_ms": ms, "params": params, "flops": 1, "accuracy": None, "invalid": invalid}

    records = [rec(1.0, 90), rec(2.0, 50), rec(2.5, 60), rec(0.5, 200), rec(0.1, None, "refused")]
    assert [(r["predicted_ms"], r["params"]) for r in pareto(records, settings)] == [(1.0, 90), (2.0, 50)]


@pytest.mark.slow
def test_a_seeded_search_is_no_worse_than_random_sampling_at_the_same_budget(tmp_path, capsys):
    doc = search(tmp_path, capsys, "--trials", "24", "--max-params", "150000")
    assert doc["best_predicted_ms"] is not None and doc["random_best_predicted_ms"] is not None
    assert doc["best_predicted_ms"] <= doc["random_best_predicted_ms"]


def test_refused_candidates_do_not_count_against_the_budget(tmp_path, capsys):
    """WS's k is drawn from its model's [2, 1000]: most draws are odd or above the vertex count."""
    doc = search(tmp_path, capsys, "-g", "ws", "--trials", "4", "--no-baseline")
    assert doc["trials"] == 4 and doc["invalid"] > 0


def test_against_picks_the_fastest_as_accurate_and_no_larger():
    from parawire.search.report import against

    def item(ms, acc, params):
        return {"predicted_ms": ms, "accuracy": acc, "params": params}

    mine = {"front": [item(1.0, 0.80, 900), item(2.0, 0.95, 5000), item(3.0, 0.97, 900)], "devices": 4}
    one = {"front": [item(9.0, 0.95, 1000)], "devices": 1}
    result = against(mine, one, "k1")
    assert result["match"] == item(3.0, 0.97, 900) and result["speedup"] == 3.0


def test_against_a_folder_without_a_search_is_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        main(["search", *TINY, "--trials", "1", "--against", str(tmp_path / "empty"), "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and "--against" in err[0] and "search.json" in err[0]
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_the_proxy_is_the_first_epochs_of_full_training():
    """What the validation relies on: training is deterministic per epoch, so E epochs of
    the proxy schedule give the accuracies of the first E epochs of the full schedule."""
    from parawire.graph.spec import ArchitectureSpec
    from parawire.search.proxy import FULL_SCHEDULE, PROXY_SCHEDULE, train_history

    spec = ArchitectureSpec(generator="dp", nodes=5, seed=3, base_channels=2, channel_cap=4)
    assert train_history(spec, 2, PROXY_SCHEDULE) == train_history(spec, 6, FULL_SCHEDULE)[:2]


@pytest.mark.slow
def test_confirm_on_endpoint_workers_measures_the_top_three(tmp_path, capsys):
    from parawire.executor.local import LocalWorkers

    with LocalWorkers(2, "zmq", "ipc") as workers:
        doc = search(tmp_path, capsys, "--trials", "4", "--no-baseline", "--confirm",
                     *[a for e in workers.endpoints for a in ("--endpoint", e)])
    rows = doc["confirmed"]
    assert [r["rank"] for r in rows] == list(range(1, min(3, len(doc["front"])) + 1))
    assert all(r["measured_ms"] > 0 and r["search_predicted_ms"] == f["predicted_ms"]
               for r, f in zip(rows, doc["front"]))


def test_endpoints_must_match_the_devices(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["search", *TINY, "--confirm", "--endpoint", "tcp://127.0.0.1:5999", "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and err == [
        "error: --endpoint: got 1 workers for --devices 2; give one --endpoint per device"]


@pytest.mark.slow
def test_a_dask_cluster_scores_the_same_candidates(tmp_path, capsys):
    """One process owns the study; a Dask worker only evaluates, so the first trials (asked
    before any result is told) are the same candidates scored the same way."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        main(["search", *TINY, *GENERATORS, "--trials", "3", "--no-baseline", "--json",
              "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "dask")])
    on_dask = json.loads(capsys.readouterr().out)
    local = search(tmp_path, capsys, "--trials", "3", "--no-baseline")
    assert on_dask["trials"] == 3 and on_dask["front"] == local["front"]


@pytest.mark.slow
def test_an_accuracy_target_trains_candidates_and_the_baseline_only_as_needed(tmp_path, capsys):
    doc = search(tmp_path, capsys, "--trials", "5", "--min-accuracy", "0.2", "--max-params", "60000")
    assert all(f["accuracy"] >= 0.2 and f["params"] <= 60000 for f in doc["front"])
    trained = (tmp_path / "s" / "baseline-accuracy.csv").read_text().splitlines()[1:]
    # only FB of the grid's generators fits 60 k parameters at the baseline's widths:
    # the baseline trains it, and nothing over the limit
    assert [line.split(",")[0] for line in trained] == ["fb"]
    fb_accuracy = float(trained[0].split(",")[-1])
    if fb_accuracy >= 0.2:
        assert doc["random_best"]["spec"]["generator"] == "fb"
        assert doc["random_best"]["accuracy"] == pytest.approx(fb_accuracy)
    else:
        assert doc["random_best"] is None and doc["random_best_predicted_ms"] is None


def test_a_storage_url_holds_the_study_instead_of_the_out_folder(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first = search(tmp_path, capsys, "--trials", "2", "--no-baseline", "--storage", url)
    again = search(tmp_path, capsys, "--trials", "2", "--no-baseline", "--storage", url)
    assert (tmp_path / "shared.db").exists() and not (tmp_path / "s" / "search.db").exists()
    assert first == again and first["trials"] == 2


def test_a_preset_profile_takes_the_testbeds_calibration_when_one_is_saved(monkeypatch, tmp_path):
    from parawire.calibration.local import get_profile
    from parawire.search import profiles
    from parawire.testbed import calibrate
    from parawire.testbed.presets import PRESETS

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(profiles, "get_profile", lambda name, engine=None: get_profile("lan"))
    profiles.search_profile.cache_clear()
    plain = profiles.search_profile("t2.micro", "onnxruntime")
    assert plain.message_latency_s == get_profile("lan").message_latency_s and plain.message_cpu_s == 0
    path = calibrate.path_for(PRESETS["t2.micro"], "onnxruntime")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"format": calibrate.FORMAT, "message_latency_s": 8e-4, "message_cpu_s": 3e-4,
                                "cpu_reserve_s": 6e-4, "call_s": 1.2e-4}))
    profiles.search_profile.cache_clear()
    try:
        saved = profiles.search_profile("t2.micro", "onnxruntime")
    finally:
        profiles.search_profile.cache_clear()
    assert saved.message_latency_s == pytest.approx(2e-4)  # half the round trip less two message ends
    assert (saved.message_cpu_s, saved.cpu_reserve_s, saved.call_s) == (3e-4, 6e-4, 1.2e-4)


class Blank:
    """A lossy third-party codec that sends nothing of the tensor: zeros arrive."""

    exact, sized = False, True

    def encode(self, tensor):  # type: ignore[no-untyped-def]
        return b""

    def decode(self, payload, dtype, shape):  # type: ignore[no-untyped-def]
        import torch

        return torch.zeros(shape, dtype=dtype)

    def encoded_bytes(self, dtype, shape) -> int:  # type: ignore[no-untyped-def]
        return 0


class BlankPlugin:
    @hookimpl
    def parawire_codecs(self):
        from parawire.plugin import CodecPlugin, NoParams

        return [CodecPlugin("blank", "zeros arrive", NoParams, lambda params: Blank())]


@pytest.mark.parametrize(("argv", "message"), [
    (["--codec", "fp16"], "--codec fp16: a lossy codec changes what the network computes; give --min-accuracy"),
    (["--codec", "raw", "--codec", "raw"], "--codec: got raw, raw; name each codec to search once"),
    (["--codec", "nosuch"], "nosuch"),
])
def test_codecs_searched_are_refused_in_one_line_before_any_work(tmp_path, capsys, argv, message):
    out = tmp_path / "s"
    with pytest.raises(SystemExit) as exit_info:
        main(["search", "--profile", "edge", "--devices", "2", "--trials", "3", "--out", str(out), *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and message in err[0]
    assert not out.exists()


def test_a_codec_is_a_dimension_only_when_several_are_searched():
    from parawire.search.settings import SearchSettings

    one = SearchSettings.build(profile="edge", devices=2, trials=1)
    assert "codec" not in one.space().options and "codecs" not in one.fingerprint()
    two = SearchSettings.build(profile="edge", devices=2, trials=1, codecs=("raw", "zstd"))
    assert two.space().options["codec"] == ("raw", "zstd") and two.fingerprint()["codecs"] == ["raw", "zstd"]


def test_a_candidates_codec_is_predicted_as_run_places_it():
    from parawire.calibration.codecs import codec_cost
    from parawire.graph.spec import ArchitectureSpec
    from parawire.pipeline.build import build_architecture
    from parawire.pipeline.hybrid import choose_placement
    from parawire.registry.codecs import CodecChoice, CodecPlan
    from parawire.search.objective import score, unit_counts
    from parawire.search.profiles import search_profile
    from parawire.search.settings import SearchSettings

    settings = SearchSettings.build(profile="lan", devices=4, trials=1, codecs=("raw", "zstd"))
    spec = ArchitectureSpec(generator="dp", nodes=30, seed=1, base_channels=32, channel_cap=256)
    records = {c: score(Candidate(spec.model_dump(mode="json"), {"input_policy": "stem", "codec": c}), settings)
               for c in ("raw", "zstd")}
    arch, profile = build_architecture(spec), search_profile("lan", None)
    assert records["zstd"]["units"] > 1  # else nothing crosses, and the record says raw
    for codec, record in records.items():
        assert record["codec"] == codec and record["options"]["codec"] == codec
        plan = CodecPlan(default=CodecChoice(name=codec))
        best = min(choose_placement(arch, u, profile, p, codecs=plan, cost=lambda c: codec_cost(c, None)).predicted_s
                   for u in unit_counts(4) for p in settings.placements)
        assert record["predicted_ms"] == round(best * 1e3, 4)


@pytest.mark.slow
def test_a_lossy_codecs_accuracy_is_measured_through_it(register_plugin):
    """The proxy's accuracy of a lossy codec is the trained network's with every output
    through the codec: a codec that sends nothing leaves one class for every image."""
    from parawire.graph.spec import ArchitectureSpec
    from parawire.search.proxy import proxy_accuracy

    register_plugin(BlankPlugin(), name="blankdist:blank")
    spec = ArchitectureSpec(generator="dp", nodes=8, seed=3, base_channels=8, channel_cap=32)
    exact = proxy_accuracy(spec, 4)  # 0.74
    blank = proxy_accuracy(spec, 4, codec="blank")
    assert exact > 0.5 and blank < 0.2


def test_a_candidate_on_one_device_sends_nothing_so_it_records_no_codec():
    from parawire.search.objective import score
    from parawire.search.settings import SearchSettings

    settings = SearchSettings.build(profile="edge", devices=1, trials=1, codecs=("raw", "zstd"))
    spec = {"generator": "dp", "nodes": 12, "seed": 1, "base_channels": 8, "channel_cap": 32}
    record = score(Candidate(spec, {"input_policy": "stem", "codec": "zstd"}), settings)
    assert record["units"] == 1 and record["codec"] == "raw" and record["options"]["codec"] == "zstd"
