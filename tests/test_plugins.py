"""The plugin manager: entry points, registries, failure isolation, invocation, errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings

import networkx as nx
import numpy as np
import pytest
from fake_dists import GENERATOR_SOURCE, install_fake_dist
from parawire.errors import PluginError, SpecError
from parawire.plugin import (
    GeneratorContext,
    GeneratorPlugin,
    NoParams,
    ScoreContext,
    ScorePlugin,
    hookimpl,
)
from parawire.registry.manager import PluginLoadWarning, collect, get_plugins, new_manager
from pydantic import Field, create_model

BUILTIN_GENERATORS = {"er", "ba", "ws", "dp", "chain", "fb"}

BROKEN = """
    import this_module_does_not_exist_anywhere
"""

MISSPELT = """
    from parawire.plugin import hookimpl

    @hookimpl
    def parawire_generator():  # the hook is parawire_generators
        return []
"""


def fresh():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginLoadWarning)
        return collect(*new_manager())


def generator(name, generate=lambda nodes: nx.path_graph(nodes)):
    class One:
        @hookimpl
        def parawire_generators(self):
            return [GeneratorPlugin(name=name, summary="test", params=NoParams, generate=generate)]

    return One()


def test_builtins_come_through_our_own_entry_points():
    plugins = fresh()
    assert BUILTIN_GENERATORS <= set(plugins.generators.names())
    for name in BUILTIN_GENERATORS:
        assert plugins.generators.get(name).distribution == "parawire"
    assert {"uniform", "greedy", "probabilistic"} <= set(plugins.staging.names())


def test_unknown_name_lists_known_names_and_closest_match():
    with pytest.raises(PluginError) as err:
        get_plugins().generators.get("wss")
    msg = str(err.value)
    assert "unknown generator 'wss'" in msg
    assert "did you mean 'ws'" in msg
    assert "er" in msg and "dp" in msg and "\n" not in msg


def test_wildcard_listing():
    assert get_plugins().generators.names("[bw]*") == ["ba", "ws"]


def test_same_name_from_two_distributions_is_a_conflict_not_a_crash(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install_fake_dist(site, "dist-one", "dup_one", GENERATOR_SOURCE.format(name="dup"), "one")
    install_fake_dist(site, "dist-two", "dup_two", GENERATOR_SOURCE.format(name="dup"), "two")
    monkeypatch.syspath_prepend(str(site))
    plugins = fresh()
    assert plugins.generators.conflicts() == {"dup": ["dist-one", "dist-two"]}
    assert plugins.conflicts() == {"generators": {"dup": ["dist-one", "dist-two"]}}
    assert plugins.generators.get("dp").distribution == "parawire"  # the rest is untouched
    with pytest.raises(PluginError, match=r"generator 'dup' is ambiguous: 2 distributions provide it;"
                       r" select one as dist-one:dup or dist-two:dup"):
        plugins.generators.get("dup")
    assert plugins.generators.get("dist-two:dup").distribution == "dist-two"
    with pytest.raises(PluginError, match="'dup' is not provided by 'dist-three'; it is provided by dist-one:dup"):
        plugins.generators.get("dist-three:dup")


def test_clash_with_a_builtin_keeps_the_builtin_selectable(register_plugin):
    from parawire.graph.spec import ArchitectureSpec
    from parawire.pipeline.build import build_dag

    before = build_dag(ArchitectureSpec(generator="er", nodes=10, seed=3)).graph
    register_plugin(generator("er"), name="clash:er")
    with pytest.raises(PluginError, match="select one as clash:er or parawire:er"):
        build_dag(ArchitectureSpec(generator="er", nodes=10))
    after = build_dag(ArchitectureSpec(generator="parawire:er", nodes=10, seed=3)).graph
    assert sorted(after.edges) == sorted(before.edges)
    path = build_dag(ArchitectureSpec(generator="clash:er", nodes=10)).graph
    assert path.number_of_edges() == 9 + 2  # path + input→0 + 9→output


def test_broken_distribution_warns_lists_and_raises_only_when_selected(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install_fake_dist(site, "parawire-broken", "broken_plugin", BROKEN, "brokengen")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("PARAWIRE_STRICT_PLUGINS", raising=False)
    with pytest.warns(PluginLoadWarning, match="'parawire-broken' failed to load"):
        pm, failures = new_manager()
    plugins = collect(pm, failures)
    assert "dp" in plugins.generators  # the rest still works
    assert [f.distribution for f in plugins.failures] == ["parawire-broken"]
    with pytest.raises(PluginError, match="from distribution 'parawire-broken', which failed to load") as err:
        plugins.generators.get("brokengen")
    assert isinstance(err.value.__cause__, ModuleNotFoundError)
    with pytest.raises(PluginError, match="failed to load: parawire-broken"):
        plugins.generators.get("nosuch")


def test_misspelt_hook_marks_only_its_distribution_failed(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install_fake_dist(site, "parawire-typo", "typo_plugin", MISSPELT, "typo")
    monkeypatch.syspath_prepend(str(site))
    with pytest.warns(PluginLoadWarning, match="'parawire-typo' failed to load"):
        plugins = collect(*new_manager())
    [failure] = plugins.failures
    assert failure.distribution == "parawire-typo"
    from parawire.registry.hookspecs import HOOKS

    assert failure.describe() == (
        "PluginError: unknown hook 'parawire_generator' (did you mean 'parawire_generators'?);"
        f" parawire's hooks: {', '.join(HOOKS.values())}"
    )
    assert "dp" in plugins.generators


def test_strict_mode_reraises_at_once(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install_fake_dist(site, "parawire-broken", "broken_plugin2", BROKEN, "brokengen")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PARAWIRE_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="'parawire-broken' failed to load") as err:
        new_manager()
    assert isinstance(err.value.__cause__, ModuleNotFoundError)


def test_disable_autoload_keeps_only_our_own(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install_fake_dist(site, "parawire-extra", "extra_gen", GENERATOR_SOURCE.format(name="extra"), "extra")
    monkeypatch.syspath_prepend(str(site))
    assert "extra" in collect(*new_manager()).generators
    monkeypatch.setenv("PARAWIRE_DISABLE_PLUGIN_AUTOLOAD", "1")
    plugins = collect(*new_manager())
    assert "extra" not in plugins.generators
    assert "dp" in plugins.generators


def test_bad_records_fail_their_plugin_whole(register_plugin):
    class Wrong:
        @hookimpl
        def parawire_scores(self):
            return [ScorePlugin(name="fine", summary="x", params=NoParams, score=lambda: 0.0)]

        @hookimpl
        def parawire_generators(self):
            return ["not a record"]

    with pytest.raises(PluginError, match="returned str from parawire_generators; expected GeneratorPlugin"):
        register_plugin(Wrong(), name="wrong:x")
    assert "fine" not in get_plugins().scores  # nothing of a failed plugin is used


@pytest.mark.parametrize(("returned", "problem"), [
    (GeneratorPlugin(name="one", summary="", params=NoParams, generate=len),
     "parawire_generators() returned one GeneratorPlugin; return a list: [record]"),
    (42, "parawire_generators() returned int; return a list of records"),
])
def test_a_hook_returning_no_list_is_told_to_return_one(register_plugin, returned, problem):
    class Single:
        @hookimpl
        def parawire_generators(self):
            return returned

    with pytest.raises(PluginError) as err:
        register_plugin(Single(), name="single:x")
    assert str(err.value) == f"single:x: PluginError: {problem}"


@pytest.mark.parametrize("name", ["a:b", "", " x"])
def test_record_names_are_checked(register_plugin, name):
    with pytest.raises(PluginError) as err:
        register_plugin(generator(name), name="names:x")
    assert str(err.value) == (
        f"names:x: PluginError: GeneratorPlugin.name: got {name!r}; use a non-empty name without ':' or spaces"
    )


def test_params_that_are_no_pydantic_model_fail_their_plugin_naming_it(register_plugin):
    import dataclasses

    @dataclasses.dataclass
    class Plain:
        chords: int = 1

    with pytest.raises(PluginError) as err:
        register_plugin(_with_params("plain", Plain), name="plain:x")
    assert str(err.value) == (
        "plain:x: PluginError: generator 'plain': params must be a pydantic model class (NoParams for none)")


@pytest.mark.parametrize("field, default, why", [
    (Field(-1, ge=0), "-1", "Input should be greater than or equal to 0"),
    (Field("x"), "'x'", "Input should be a valid integer, unable to parse string as an integer"),
])
def test_a_default_that_fails_its_own_bounds_fails_the_plugin_at_load(register_plugin, field, default, why):
    """Pydantic never validates defaults: unchecked, -1 would reach the plugin on every run."""
    model = create_model("Params", chords=(int, field))
    with pytest.raises(PluginError) as err:
        register_plugin(_with_params("chordal", model), name="chordal:x")
    assert str(err.value) == (f"chordal:x: PluginError: generator 'chordal': params.chords: default {default}"
                              f" fails its own bounds ({why}); fix the default or the bound")
    assert "chordal" not in get_plugins().generators


def test_required_parameters_and_valid_defaults_load():
    from parawire.registry.manager import bad_default
    from pydantic import BaseModel

    class Params(BaseModel):
        needed: int = Field(ge=1)
        fine: float = Field(0.5, ge=0, le=1)

    assert bad_default(Params) == ""


def _with_params(name, params):
    class One:
        @hookimpl
        def parawire_generators(self):
            return [GeneratorPlugin(name=name, summary="test", params=params, generate=lambda nodes: nx.path_graph(nodes))]

    return One()


def test_misspelt_hook_in_the_fixture_is_one_line(register_plugin):
    class Misspelt:
        @hookimpl
        def parawire_partitioner(self):
            return []

    with pytest.raises(PluginError, match=r"unknown hook 'parawire_partitioner' \(did you mean 'parawire_partitioners'\?\)"):
        register_plugin(Misspelt(), name="typo:x")


def test_register_plugin_works_when_the_module_is_already_registered(register_plugin):
    """The installed-package case: its entry point registered the module already."""
    import parawire_plugin_pkg

    installed = get_plugins().generators.get("lanes")
    assert installed.distribution == "parawire-plugin-pkg"
    plugins = register_plugin(parawire_plugin_pkg, name="mine:pkg")
    assert plugins.generators.get("lanes").distribution == "mine"
    assert plugins.generators.conflicts() == {}


# -- invocation: keywords a plugin declares, errors that name it ---------------------------------
def test_callables_receive_only_the_keywords_they_declare():
    seen = {}

    def takes_nodes(nodes):
        return nx.path_graph(nodes)

    def takes_everything(**kwargs):
        seen.update(kwargs)
        return nx.path_graph(kwargs["nodes"])

    context = GeneratorContext(nodes=5, rng=np.random.default_rng(0))
    assert GeneratorPlugin("a", "", NoParams, takes_nodes).invoke(context, NoParams()).number_of_nodes() == 5
    GeneratorPlugin("b", "", NoParams, takes_everything).invoke(context, NoParams())
    assert set(seen) == {"nodes", "rng", "spec", "context", "params"}
    assert seen["context"] is context


def test_a_required_argument_parawire_does_not_pass_is_named():
    record = GeneratorPlugin("c", "", NoParams, lambda nodes, colour: None, distribution="d")
    with pytest.raises(PluginError, match=r"generator 'c' \(d\): its generate\(\) requires colour,"
                       " which parawire does not pass; it may take context, nodes, params, rng, spec"):
        record.invoke(GeneratorContext(nodes=3, rng=np.random.default_rng(0)), NoParams())


@pytest.mark.parametrize(
    "exc, kind, message",
    [
        (ValueError("nodes must be even"), SpecError, "generator 'odd' (pkg): nodes must be even"),
        (ZeroDivisionError("division by zero"), PluginError,
         "generator 'odd' (pkg) failed: ZeroDivisionError: division by zero"),
        (SpecError("params[odd].k: got 3; must be even"), SpecError, "params[odd].k: got 3; must be even"),
        (SpecError("k: got 3"), SpecError, "generator 'odd' (pkg): k: got 3"),
    ],
)
def test_errors_inside_plugin_code_are_one_line_naming_the_plugin(exc, kind, message):
    def fails(nodes):
        raise exc

    record = GeneratorPlugin("odd", "", NoParams, fails, distribution="pkg")
    with pytest.raises(kind) as err:
        record.invoke(GeneratorContext(nodes=3, rng=np.random.default_rng(0)), NoParams())
    assert str(err.value) == message
    assert err.value is exc or err.value.__cause__ is exc


def test_a_plain_value_error_reaches_the_command_line_as_one_line(register_plugin, capsys):
    from parawire.cli import main

    def picky(nodes):
        raise ValueError(f"{nodes} nodes is not a prime")

    register_plugin(generator("picky", picky), name="pickydist:x")
    with pytest.raises(SystemExit) as code:
        main(["generate", "-g", "picky", "-n", "8"])
    assert code.value.code == 2
    assert capsys.readouterr().err == "error: generator 'picky' (pickydist): 8 nodes is not a prime\n"


def test_score_context_carries_the_partition_hypergraph_and_dag(register_plugin):
    from parawire.graph.spec import ArchitectureSpec
    from parawire.pipeline.build import build_architecture
    from parawire.pipeline.score import score_architecture

    seen: list[ScoreContext] = []

    def cut_nets(context: ScoreContext) -> float:
        seen.append(context)
        hg, parts = context.hypergraph, context.partition
        return sum(len(set(parts[hg.pins(e)].tolist())) > 1 for e in range(hg.num_nets))

    class Cut:
        @hookimpl
        def parawire_scores(self):
            return [ScorePlugin(name="cutnets", summary="nets cut", params=NoParams, score=cut_nets)]

    register_plugin(Cut(), name="cut:x")
    arch = build_architecture(ArchitectureSpec(generator="ws", nodes=16, seed=2, base_channels=8))
    rows = score_architecture(arch, [2, 3], [0.1], score="cutnets")
    for row, context in zip(rows, seen):
        assert context.dag is arch.dag and context.units == row.units and context.metrics == row.metrics
        assert tuple(context.partition.tolist()) == row.partition
        # the net of v is {v} ∪ succ(v): it is cut when a successor sits on another unit
        expected = sum(
            any(row.partition[s] != row.partition[v] for s in arch.dag.succs[v]) for v in arch.dag.order
        )
        assert row.score == expected


@pytest.mark.parametrize("returned", ["low", "1.5", True, np.bool_(False), b"2"])
def test_a_score_that_returns_no_number_is_named(register_plugin, returned):
    """Text and booleans too, though ``float`` would take "1.5" and True."""
    from parawire.pipeline.score import score_architecture

    class Bad:
        @hookimpl
        def parawire_scores(self):
            return [ScorePlugin(name="bad", summary="", params=NoParams, score=lambda metrics: returned)]

    register_plugin(Bad(), name="baddist:x")
    dag = __import__("parawire.graph.dag", fromlist=["to_dag"]).to_dag(nx.path_graph(6))
    costs = __import__("types").SimpleNamespace(flops=np.ones(8, dtype=np.int64), out_bytes=np.ones(8, dtype=np.int64))
    with pytest.raises(PluginError, match=rf"score 'bad' \(baddist\): returned {re.escape(repr(returned))}; a score must be a number"):
        score_architecture((dag, costs), [2], [0.1], score="bad")


def test_transport_params_are_validated_by_the_plugin_model():
    from parawire.executor.local import LocalWorkers
    from parawire.executor.transport import get_transport

    with pytest.raises(SpecError, match=r"transport_params\[zmq\]\.speed: got 3; Extra inputs are not permitted"):
        get_transport("zmq", {"speed": 3})
    with pytest.raises(SpecError, match=r"transport_params\[counting\]\.log_dir: got \{…\}; Field required"):
        LocalWorkers(2, "counting")  # refused before any worker starts


@pytest.mark.slow
def test_plugins_command_shows_conflicts_and_failures_and_other_commands_still_work(tmp_path):
    site = tmp_path / "site"
    install_fake_dist(site, "parawire-broken", "broken_plugin3", BROKEN, "brokengen")
    install_fake_dist(site, "parawire-typo", "typo_plugin3", MISSPELT, "typo")
    install_fake_dist(site, "dist-one", "dup_one3", GENERATOR_SOURCE.format(name="dup"), "one")
    install_fake_dist(site, "dist-two", "dup_two3", GENERATOR_SOURCE.format(name="dup"), "two")
    install_fake_dist(site, "dist-er", "dup_er3", GENERATOR_SOURCE.format(name="er"), "er")
    env = {**os.environ, "PYTHONPATH": str(site)}

    def parawire(*args):
        return subprocess.run([sys.executable, "-W", "ignore", "-m", "parawire", *args],
                              capture_output=True, text=True, env=env, timeout=120)

    out = parawire("plugins", "--json")
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    failed = {(f["entry_point"], f["distribution"]): f["error"] for f in listed["failures"]}
    status = {(p["kind"], p["name"], p["distribution"]): p["status"] for p in listed["plugins"]}
    assert failed[("brokengen", "parawire-broken")] == (
        "ModuleNotFoundError: No module named 'this_module_does_not_exist_anywhere'")
    assert failed[("typo", "parawire-typo")].startswith("PluginError: unknown hook 'parawire_generator'")
    assert status[("generators", "dup", "dist-one")] == "conflict: also in dist-two; select as dist-one:dup"
    assert status[("generators", "dup", "dist-two")] == "conflict: also in dist-one; select as dist-two:dup"
    assert status[("generators", "er", "parawire")] == "conflict: also in dist-er; select as parawire:er"
    assert status[("generators", "dp", "parawire")] == "ok"
    table = parawire("plugins")  # the same, as a table for people
    assert table.returncode == 0 and "brokengen" in table.stdout and "conflict" in table.stdout

    ok = parawire("generate", "-g", "dp", "-n", "10")
    assert ok.returncode == 0, ok.stderr
    picked = parawire("generate", "-g", "parawire:er", "-n", "10", "-p", "p=0.3")
    assert picked.returncode == 0, picked.stderr
    ambiguous = parawire("generate", "-g", "er", "-n", "10")
    assert ambiguous.returncode == 2
    assert ambiguous.stderr == ("error: generator 'er' is ambiguous: 2 distributions provide it;"
                                " select one as dist-er:er or parawire:er (or uninstall one)\n")


@pytest.mark.slow
def test_plugin_new_writes_a_working_package_of_every_kind(tmp_path, capsys):
    from parawire.cli import main
    from parawire.registry.records import KINDS

    for kind in KINDS:
        main(["plugin", "new", f"my_{kind}", "--kind", kind, "-d", str(tmp_path)])
    roots = sorted(tmp_path.iterdir())
    assert [r.name for r in roots] == sorted(f"parawire-my-{k}" for k in KINDS)
    pyproject = (tmp_path / "parawire-my-scores" / "pyproject.toml").read_text()
    assert '[project.entry-points.parawire]\nmy_scores = "parawire_my_scores"' in pyproject
    assert 'dependencies = ["parawire>=0.1,<0.2",' in pyproject  # the releases with its plugin API
    source = (tmp_path / "parawire-my-scores" / "src" / "parawire_my_scores" / "__init__.py").read_text()
    assert 'PARAWIRE_API = "1.0"' in source
    # each package's own test passes as written, before it is installed (pythonpath = src)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for root in roots:
        out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                             capture_output=True, text=True, env=env, cwd=root, timeout=300)
        assert out.returncode == 0, out.stdout[-3000:]
        assert "1 passed" in out.stdout
    with pytest.raises(SystemExit):
        main(["plugin", "new", "my_scores", "--kind", "scores", "-d", str(tmp_path)])
    assert "already exists" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["plugin", "new", "My-Plugin", "--kind", "scores", "-d", str(tmp_path)])
    assert "NAME: got 'My-Plugin'; use lower-case letters" in capsys.readouterr().err


def doc_examples():
    """The complete plugin modules of docs/plugins.md (python blocks with a @hookimpl)."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
    return [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "@hookimpl" in b]


def test_every_kind_has_a_worked_example_in_the_docs():
    from parawire.registry.records import KINDS

    hooks = {record.hook for record in KINDS.values()}
    assert {h for b in doc_examples() for h in hooks if f"def {h}()" in b} == hooks


@pytest.mark.parametrize("index", range(len(doc_examples())))
def test_doc_examples_register_and_run(register_plugin, index, tmp_path):
    import types

    from parawire.executor.transport import get_transport
    from parawire.graph.spec import ArchitectureSpec
    from parawire.pipeline.build import build_architecture
    from parawire.pipeline.score import score_architecture

    module = types.ModuleType(f"doc_example_{index}")
    exec(compile(doc_examples()[index], module.__name__, "exec"), module.__dict__)
    plugins = register_plugin(module, name=f"docs:{index}")
    [(kind, record)] = [(k, r) for k, reg in plugins.kinds().items() for r in reg if r.distribution == "docs"]
    spec = {"nodes": 12, "base_channels": 8, "seed": 1}
    if kind == "generators":
        arch = build_architecture(ArchitectureSpec(generator=record.name, **spec))
        assert arch.dag.nodes == 12
    elif kind == "staging":
        arch = build_architecture(ArchitectureSpec(generator="dp", staging=record.name, **spec))
        assert arch.dag.nodes == 12
    elif kind in ("partitioners", "scores"):
        arch = build_architecture(ArchitectureSpec(generator="ws", **spec))
        rows = score_architecture(arch, [3], [0.1], **{kind[:-1] if kind == "partitioners" else "score": record.name})
        assert rows[0].metrics.balanced and 0 <= rows[0].score < 10
    elif kind == "transports":
        transport = get_transport(record.name, {"every": 1})
        inbox = transport.bind(f"ipc://{tmp_path}/unit")
        client = transport.client([inbox.address])
        client.send(0, [b"ping"])
        token, frames = inbox.recv(10.0)
        assert [bytes(f) for f in frames] == [b"ping"]
        client.close(), inbox.close(), transport.close()
    elif kind == "engines":
        import torch
        from parawire.executor.coordinator import Cluster
        from parawire.executor.local import LocalWorkers
        from parawire.executor.plan import plan_for
        from parawire.network.nn import build_network
        from parawire.pipeline.placement import partition_architecture

        arch = build_architecture(ArchitectureSpec(generator="dp", input_shape=(3, 16, 16), **spec))
        plan = plan_for(arch, partition_architecture(arch, 2), units=2)
        x = torch.randn(1, 3, 16, 16)
        with torch.inference_mode():
            reference = build_network(arch).eval()(x)
        with LocalWorkers(2, "inproc") as workers, Cluster.connect(workers.endpoints, "inproc") as cluster:
            cluster.deploy(arch.spec, plan, engine=record.name)
            assert torch.allclose(cluster.infer(x), reference, atol=1e-5)
    elif kind == "codecs":
        import torch
        from parawire.registry.codecs import CodecFrameError, get_codec

        codec = get_codec(record.name, {"bytes_kept": 2})
        x = torch.randn(1, 8, 4, 4)
        frame = memoryview(codec.encode(x)).cast("B")
        assert frame.nbytes == codec.encoded_bytes(x.dtype, tuple(x.shape)) == x.numel() * 2
        assert torch.allclose(codec.decode(frame, x.dtype, tuple(x.shape)), x, rtol=2 ** -7, atol=0)
        with pytest.raises(CodecFrameError):
            codec.decode(frame[:-1], x.dtype, tuple(x.shape))


def test_worker_refuses_an_in_process_transport_and_validates_params(capsys):
    from parawire.cli import main

    with pytest.raises(SystemExit) as code:
        main(["worker", "--bind", "ipc:///tmp/never", "--transport", "inproc"])
    assert code.value.code == 2
    assert "--transport inproc: works only inside one process" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["worker", "--bind", "ipc:///tmp/never", "--transport", "zmq", "--transport-param", "hwm=5"])
    assert "transport_params[zmq].hwm: got 5; Extra inputs are not permitted" in capsys.readouterr().err


def test_a_transport_failing_to_connect_is_one_line_naming_it(register_plugin):
    from parawire.executor.coordinator import Cluster
    from parawire.plugin import ParawireError, TransportPlugin

    class Refuses:
        def client(self, addresses, curve=None, server_keys=()):
            raise OSError("no route to host")

        bind = link = client

    class Plugin:
        @hookimpl
        def parawire_transports(self):
            return [TransportPlugin(name="refuses", summary="", params=NoParams, factory=Refuses)]

    register_plugin(Plugin(), name="refusing:x")
    with pytest.raises(ParawireError, match="^transport 'refuses' cannot connect: OSError: no route to host$"):
        Cluster.connect(["tcp://127.0.0.1:1"], "refuses")


def test_a_transport_factory_breaking_its_contract_stops_local_workers_before_any_starts(register_plugin,
                                                                                       monkeypatch):
    """Each worker process printed the breach and exited, then the coordinator said so again."""
    import parawire.executor.local as local
    from parawire.plugin import TransportPlugin

    class Plugin:
        @hookimpl
        def parawire_transports(self):
            return [TransportPlugin(name="hollow", summary="", params=NoParams, factory=lambda params: object())]

    register_plugin(Plugin(), name="hollowdist:x")
    monkeypatch.setattr(local.subprocess, "Popen", lambda *a, **k: pytest.fail("a worker was started"))
    with pytest.raises(PluginError, match=r"^transport 'hollow' \(hollowdist\): factory returned object without"
                                          r" bind, link, client\(\)"):
        local.LocalWorkers(2, transport="hollow")


# -- issue 22: a broken or clashing plugin never breaks another command; outputs are checked ---------
BAD = """
    import networkx as nx
    import numpy as np
    from parawire.plugin import (EnginePlugin, GeneratorPlugin, NoParams, PartitionerPlugin, StagingPlugin,
                                 hookimpl)
    from pydantic import BaseModel


    class Lax(BaseModel):  # no extra="forbid": parawire refuses unknown names anyway
        cross: float = 0.0


    def cycle(nodes):
        return nx.cycle_graph(nodes, create_using=nx.DiGraph)


    def loop(nodes):
        graph = nx.path_graph(nodes)
        graph.add_edge(2, 2)
        return graph


    GENERATORS = {
        "aslist": lambda nodes: list(range(nodes)),
        "none": lambda nodes: None,
        "cycle": cycle,
        "labels": lambda nodes: nx.relabel_nodes(nx.path_graph(nodes), {0: "a"}),
        "loop": loop,
        "short": lambda nodes: nx.path_graph(nodes - 3),
        "empty": lambda nodes: nx.Graph(),
    }


    def boom_whole(net):
        raise RuntimeError("no accelerator here")


    def missing(net, vertices):
        return {v: net.blocks[str(v)] for v in list(vertices)[1:]}


    @hookimpl
    def parawire_generators():
        return [GeneratorPlugin(name=n, summary="bad", params=NoParams, generate=f) for n, f in GENERATORS.items()] + [
            GeneratorPlugin(name="lax", summary="", params=Lax, generate=lambda nodes: nx.path_graph(nodes))]


    @hookimpl
    def parawire_staging_policies():
        return [StagingPlugin(name="shortflags", summary="", params=NoParams,
                              assign=lambda dag: np.zeros(dag.nodes, dtype=bool))]


    @hookimpl
    def parawire_partitioners():
        return [
            PartitionerPlugin(name="nothing", summary="", params=NoParams, partition=lambda hypergraph: None),
            PartitionerPlugin(name="floats", summary="", params=NoParams,
                              partition=lambda hypergraph, k: np.arange(hypergraph.num_vertices) % k * 0.5),
            PartitionerPlugin(name="onepart", summary="", params=NoParams,
                              partition=lambda hypergraph: np.zeros(hypergraph.num_vertices, dtype=np.int64)),
        ]


    def narrow(net, vertices):  # every block, but the first vertex's keeps one channel of its output
        blocks = {v: net.blocks[str(v)] for v in vertices}
        first = list(vertices)[0]
        blocks[first] = lambda inputs, block=blocks[first]: block(inputs)[:, :1]
        return blocks


    @hookimpl
    def parawire_engines():
        return [
            EnginePlugin(name="boom", summary="", params=NoParams, compile=missing, whole=boom_whole),
            EnginePlugin(name="missing", summary="", params=NoParams, compile=missing, whole=lambda net: net),
            EnginePlugin(name="narrow", summary="", params=NoParams, compile=narrow, whole=lambda net: net),
        ]
"""

CLASH_ER = """
    import networkx as nx
    from parawire.plugin import GeneratorPlugin, NoParams, hookimpl


    @hookimpl
    def parawire_generators():
        return [GeneratorPlugin(name="er", summary="", params=NoParams, generate=lambda nodes: nx.path_graph(nodes))]
"""


@pytest.fixture
def bad_installed(tmp_path, monkeypatch):
    """parawire-bad (every kind of broken output) installed as a distribution, in force."""
    from parawire.registry.manager import using

    site = tmp_path / "site"
    install_fake_dist(site, "parawire-bad", "bad_outputs", BAD, "bad")
    monkeypatch.syspath_prepend(str(site))
    with using(fresh()):
        yield site


def cli_error(capsys, *argv) -> str:
    """The one line ``parawire ARGV`` prints on stderr, exiting with status 2."""
    from parawire.cli import main

    with pytest.raises(SystemExit) as code:
        main(list(argv))
    err = capsys.readouterr().err
    assert code.value.code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    return err.strip()


@pytest.fixture
def arch_json(tmp_path):
    from parawire.graph.spec import ArchitectureSpec

    path = tmp_path / "arch.json"
    ArchitectureSpec(generator="parawire:dp", nodes=12, seed=1, base_channels=8, input_shape=(3, 16, 16)).save(path)
    return path


@pytest.mark.parametrize("name, problem", [
    ("aslist", "returned list; a generator returns a networkx Graph or DiGraph"),
    ("none", "returned None; a generator returns a networkx Graph or DiGraph"),
    ("cycle", "returned a DiGraph with a cycle (0 → 1 → 2 → 3 → 4 → 5 → 6 → 7 → 8 → 9)"),
    ("labels", "vertex 'a' is not one of 0..9; label the vertices 0..nodes-1"),
    ("loop", "edge 2→2 is a self-loop"),
])
def test_row3_a_bad_graph_is_one_line_naming_the_generator(bad_installed, capsys, name, problem):
    err = cli_error(capsys, "generate", "-g", name, "-n", "10")
    assert err.startswith(f"error: generator '{name}' (parawire-bad): {problem}")


@pytest.mark.parametrize("name, got", [("short", 7), ("empty", 0)])
def test_row4_fewer_vertices_than_asked_is_refused_naming_the_generator(bad_installed, capsys, name, got):
    err = cli_error(capsys, "generate", "-g", name, "-n", "10")
    assert err == (f"error: generator '{name}' (parawire-bad): returned {got} vertices; 10 were asked for"
                   " (labelled 0..9)")  # not blamed on the staging policy


def test_row3_staging_flags_of_the_wrong_length_name_the_policy(bad_installed, capsys, tmp_path):
    from parawire.cli import main

    main(["generate", "-g", "er", "-n", "10", "--staging", "shortflags", "-o", str(tmp_path / "a.json")])
    capsys.readouterr()
    err = cli_error(capsys, "score", str(tmp_path / "a.json"), "--units", "2")
    assert err == ("error: staging 'shortflags' (parawire-bad): returned 10 flags;"
                   " expected one per DAG vertex (12: dag.nodes + 2)")


@pytest.mark.parametrize("name, problem", [
    ("nothing", "returned None; a partitioner returns one unit (0..1) per vertex"),
    ("floats", "returned a float64 array; units are integers 0..1"),
    ("onepart", "left unit 1 empty (1 of 2 used); with 14 vertices ≥ k every unit must get one"),
])
def test_rows3_and_5_a_bad_partition_is_one_line_naming_the_partitioner(bad_installed, capsys, arch_json,
                                                                        name, problem):
    err = cli_error(capsys, "score", str(arch_json), "--units", "2", "--partitioner", name)
    assert err == f"error: partitioner '{name}' (parawire-bad): {problem}"


def test_row5_imbalance_is_one_warning_naming_the_partitioner(register_plugin):
    from parawire.plugin import Hypergraph, PartitionContext, PartitionerPlugin, to_dag
    from parawire.score.metrics import ImbalanceWarning

    def lopsided(hypergraph, k):
        return np.minimum(np.arange(hypergraph.num_vertices), k - 1) * 0 + (np.arange(hypergraph.num_vertices) < 2)

    record = PartitionerPlugin("lopsided", "", NoParams, lopsided, distribution="lop")
    dag = to_dag(nx.path_graph(10))
    hg = Hypergraph.from_dag(dag, np.ones(12, dtype=np.int64), np.ones(12, dtype=np.int64))
    with pytest.warns(ImbalanceWarning) as caught:
        parts = record.invoke(PartitionContext(hg, 2, 0.03, 0), {})
    assert [str(w.message) for w in caught] == [
        ("partitioner 'lopsided' (lop): heaviest unit weighs 10 > limit 6 for k=2, eps=0.03;"
         " the balance limit could not be met")]
    assert (caught[0].filename, caught[0].lineno) == ("<partitioner 'lopsided' (lop)>", 0)  # no line of ours
    assert parts.dtype == np.int64


def test_row5_builtins_warn_only_when_their_partition_is_unbalanced():
    """repaired() used to warn at k=6, ε=0.03 where multilevel met the limit: now the
    framework judges the partition returned, and multilevel's is balanced."""
    from parawire.graph.spec import ArchitectureSpec
    from parawire.pipeline.build import build_architecture
    from parawire.pipeline.placement import partition_architecture

    arch = build_architecture(ArchitectureSpec(generator="parawire:dp", nodes=40, seed=0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parts = partition_architecture(arch, 6, "parawire:multilevel", 0.03)
    assert sorted(set(parts.tolist())) == list(range(6))


def test_row8_a_misspelt_parameter_is_refused_even_if_the_model_allows_extras(bad_installed, capsys):
    err = cli_error(capsys, "generate", "-g", "lax", "-n", "10", "-p", "cros=0.5")
    assert err == "error: params[lax].cros: got 0.5; Extra inputs are not permitted"
    from parawire.cli import main

    main(["generate", "-g", "lax", "-n", "10", "-p", "cross=0.5"])  # the right name still works
    assert "lax" in capsys.readouterr().out


def test_row9_protocol_error_is_public_and_is_what_the_worker_drops():
    from parawire.executor.transport import ProtocolError as internal
    from parawire.plugin import ProtocolError

    assert ProtocolError is internal and "ProtocolError" in __import__("parawire.plugin").plugin.__all__


def test_row7_engine_params_are_validated_and_every_engine_call_goes_through_invoke(register_plugin, capsys,
                                                                                   arch_json):
    import torch
    from parawire.executor.plan import plan_for
    from parawire.executor.worker import network_blocks
    from parawire.graph.spec import ArchitectureSpec
    from parawire.pipeline.build import build_architecture
    from parawire.pipeline.placement import partition_architecture
    from parawire.plugin import EnginePlugin
    from pydantic import BaseModel

    seen = []

    class Scale(BaseModel):
        factor: float = 1.0

    def compile(net, vertices, params):
        seen.append(params)
        return {v: net.blocks[str(v)] for v in vertices}

    class Engine:
        @hookimpl
        def parawire_engines(self):
            return [EnginePlugin(name="scaled", summary="", params=Scale, compile=compile, whole=lambda net: net)]

    register_plugin(Engine(), name="scaled-dist:x")
    err = cli_error(capsys, "run", str(arch_json), "--local", "--engine", "scaled", "--engine-param", "factr=2")
    assert err == "error: engine_params[scaled].factr: got 2; Extra inputs are not permitted"
    err = cli_error(capsys, "testbed", "run", str(arch_json), "--devices", "1", "--engine", "scaled",
                    "--engine-param", "factor=-")  # before any testbed (or root) is needed
    assert err.startswith("error: engine_params[scaled].factor: got '-';")
    arch = build_architecture(ArchitectureSpec.load(arch_json))
    plan = plan_for(arch, partition_architecture(arch, 2), units=2)
    with torch.inference_mode():
        blocks = network_blocks(arch.spec.model_dump(mode="json"), plan.unit_plans[0], engine="scaled",
                                engine_params={"factor": 2})
    assert set(blocks) == set(plan.unit_plans[0].vertices) and seen == [Scale(factor=2.0)]


def test_row3_an_engine_missing_a_vertex_is_named():
    from parawire.plugin import CompileContext, EnginePlugin

    record = EnginePlugin("missing", "", NoParams, lambda vertices: {v: abs for v in vertices[1:]},
                          whole=None, distribution="gap")
    with pytest.raises(PluginError, match=r"^engine 'missing' \(gap\): compile returned no block for vertex 4"
                                          r" \(1 of 3 missing\)"):
        record.invoke(CompileContext(None, [4, 5, 6]))
    with pytest.raises(PluginError, match=r"^engine 'missing' \(gap\): has no whole to call$"):
        record.invoke(__import__("parawire.plugin").plugin.WholeContext(None))


def test_row3_an_engine_block_of_the_wrong_shape_is_named_at_compile(bad_installed, arch_json):
    """Found when the unit is built (the block runs once on zeros), not a vertex later on
    another unit as a torch shape error naming neither engine nor vertex."""
    import torch
    from parawire.executor.plan import plan_for
    from parawire.executor.worker import network_blocks
    from parawire.graph.spec import ArchitectureSpec
    from parawire.pipeline.build import build_architecture
    from parawire.pipeline.placement import partition_architecture

    arch = build_architecture(ArchitectureSpec.load(arch_json))
    unit = plan_for(arch, partition_architecture(arch, 2), units=2).unit_plans[0]
    first = unit.vertices[0]
    want = (1, *arch.layout.out_shape[first].tolist())
    with torch.inference_mode(), pytest.raises(PluginError) as caught:
        network_blocks(arch.spec.model_dump(mode="json"), unit, engine="narrow")
    assert str(caught.value) == (f"engine 'narrow' (parawire-bad): compile's block for vertex {first} returned"
                                 f" shape {(1, 1, *want[2:])}; the architecture's is {want}")
    with torch.inference_mode():  # parawire's own engines pass the same check, fused calls included
        for engine in ("torch", "onnxruntime"):
            assert network_blocks(arch.spec.model_dump(mode="json"), unit, engine=engine)


def test_row3_a_fused_call_of_the_wrong_shape_is_named(arch_json):
    from parawire.executor.segments import Segment
    from parawire.graph.spec import ArchitectureSpec
    from parawire.network.nn import build_network
    from parawire.pipeline.build import build_architecture
    from parawire.plugin import EnginePlugin, FuseContext

    arch = build_architecture(ArchitectureSpec.load(arch_json))
    net = build_network(arch).eval()
    a, b = arch.dag.order[:2]  # the input vertex (the stem) and one it feeds
    segment = Segment((a, b), (-1,), (b,))
    record = EnginePlugin("flat", "", NoParams, compile=None, whole=None, distribution="flat-dist",
                          fuse=lambda net, segment: lambda inputs: [inputs[0].flatten()])
    with pytest.raises(PluginError) as caught:
        record.invoke(FuseContext(net, segment))
    image = (1, *arch.spec.input_shape)
    assert str(caught.value) == (f"engine 'flat' (flat-dist): fuse's call for vertices [{a}, {b}] returned shape"
                                 f" ({np.prod(image)},); the architecture's is"
                                 f" {(1, *arch.layout.out_shape[b].tolist())} (vertex {b})")
    record = EnginePlugin("raises", "", NoParams, compile=None, whole=None, distribution="r",
                          fuse=lambda net, segment: lambda inputs: 1 / 0)
    with pytest.raises(PluginError, match=r"^engine 'raises' \(r\): fuse's call for vertices \[\d+, \d+\] failed"
                                          r" on zeros of its input shapes \[\(1, 3, 16, 16\)\]: ZeroDivisionError"):
        record.invoke(FuseContext(net, segment))


def test_row1_parawire_selects_its_own_plugins_by_qualified_name(register_plugin):
    from parawire.calibration.local import CALIBRATION_SPECS
    from parawire.pipeline.build import build_architecture
    from parawire.registry.manager import resolve_engine

    register_plugin(generator("er"), name="dist-er:er")
    register_plugin(generator("probabilistic"), name="dist-er:x")  # not a staging policy: no clash there
    for spec in CALIBRATION_SPECS:  # the calibration's networks still build, from parawire's own er
        assert build_architecture(spec).dag.nodes == 40
    assert resolve_engine(None) == "onnxruntime"  # unclashed: the label stays bare


def test_item2_every_installed_plugin_stays_selectable_when_two_share_a_name(register_plugin):
    """The search's default ("every installed generator") lists a clash's plugins qualified,
    so neither parawire's er nor the third party's makes the search ambiguous."""
    from parawire.search.settings import SearchSettings

    register_plugin(generator("er"), name="dist-er:er")
    registry = get_plugins().generators
    assert {"parawire:er", "dist-er:er", "dp"} <= set(registry.selectable()) and "er" not in registry.selectable()
    assert all(registry.get(name) for name in registry.selectable())
    settings = SearchSettings.build(profile="edge", devices=2, trials=1)  # the space builds: every name selects
    assert {"parawire:er", "dist-er:er"} <= set(settings.generators)
    assert registry.own("er") == "parawire:er" and registry.own("dp") == "dp"
    assert registry.own("dist-er:er") == "dist-er:er"  # not parawire's: as it is


def test_row6_a_plugin_exiting_at_import_is_isolated_and_warned_once_without_internal_paths(tmp_path):
    site = tmp_path / "site"
    install_fake_dist(site, "parawire-exits", "exits_at_import", "import sys\nsys.exit(3)\n", "exits")
    install_fake_dist(site, "parawire-future", "future_api", "PARAWIRE_API = '2.0'\n", "future")
    env = {k: v for k, v in os.environ.items() if k != "PARAWIRE_PLUGIN_WARNINGS_SHOWN"}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run([sys.executable, "-m", "parawire", "plugins", "--json"], capture_output=True, text=True,
                         env=env, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert listed["api_version"] == "1.0"
    failed = {f["distribution"]: f["error"] for f in listed["failures"]}
    assert failed["parawire-exits"] == "SystemExit: 3"
    assert failed["parawire-future"] == (
        "PluginError: written for parawire plugin API 2.0; this parawire provides 1.0"
        " (install a release of the plugin for API 1.x, or a parawire that provides 2.0)")
    assert "Traceback" not in out.stderr and "manager.py" not in out.stderr
    warned = [line for line in out.stderr.splitlines() if "PluginLoadWarning" in line]
    assert warned == [
        ("<parawire-exits>:0: PluginLoadWarning: parawire plugin 'exits' from distribution 'parawire-exits' failed"
         " to load (SystemExit: 3); it is skipped (`parawire plugins` lists it)"),
        ("<parawire-future>:0: PluginLoadWarning: parawire plugin 'future' from distribution 'parawire-future'"
         " failed to load (PluginError: written for parawire plugin API 2.0; this parawire provides 1.0 (install"
         " a release of the plugin for API 1.x, or a parawire that provides 2.0)); it is skipped"
         " (`parawire plugins` lists it)"),
    ]
    # a process this one starts (as run --local starts workers) does not repeat the warnings
    parent = ("from parawire.registry.manager import get_plugins; import subprocess, sys; get_plugins();"
              " sys.exit(subprocess.run([sys.executable, '-m', 'parawire', 'generate', '-g', 'dp', '-n', '8'],"
              " check=False).returncode)")
    child = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, env=env, timeout=120,
                           check=False)
    assert child.returncode == 0, child.stderr  # other commands unaffected
    assert child.stderr.count("PluginLoadWarning") == 2


def test_row6_an_interruption_while_a_plugin_imports_is_not_taken_for_its_failure(tmp_path, monkeypatch):
    """Only errors and sys.exit() are the plugin's: the command line's SIGTERM handler
    raises in the main thread wherever it is (a plugin's import included), and that must
    stop the command, not be listed as a broken plugin while the command goes on."""
    site = tmp_path / "site"
    install_fake_dist(site, "parawire-slow", "slow_import", "raise GeneratorExit('a signal arrived')\n", "slow")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(GeneratorExit):
        new_manager()


@pytest.fixture(scope="module")
def clashing_run(tmp_path_factory):
    """``run --engine parawire:torch`` with a third-party ``er`` generator and an engine
    whose ``whole()`` raises installed: the issue's rows 1 and 2 in one command."""
    from parawire.graph.spec import ArchitectureSpec

    root = tmp_path_factory.mktemp("clash")
    site = root / "site"
    install_fake_dist(site, "dist-er", "clash_er", CLASH_ER, "er")
    install_fake_dist(site, "parawire-bad", "bad_outputs_run", BAD, "bad")
    ArchitectureSpec(generator="parawire:dp", nodes=8, seed=1, base_channels=8, input_shape=(3, 16, 16)).save(
        root / "arch.json")
    env = {k: v for k, v in os.environ.items() if k != "PARAWIRE_PLUGIN_WARNINGS_SHOWN"}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(root / "cache"))  # calibrates `local` afresh

    def run(*extra):
        return subprocess.run([sys.executable, "-m", "parawire", "run", str(root / "arch.json"), "--units", "2",
                               "--local", "--transport", "inproc", "--runs", "1", "--json", *extra],
                              capture_output=True, text=True, env=env, timeout=300, check=False)

    return run


@pytest.mark.slow
def test_row1_a_third_party_er_does_not_break_run(clashing_run):
    out = clashing_run("--engine", "parawire:torch")  # --profile local: calibrates on parawire's dp and er
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)["rows"]
    assert {r["engine"] for r in rows} == {"parawire:torch", "torch", "onnxruntime"}
    assert all(r["error"] is None for r in rows) and "Traceback" not in out.stderr


@pytest.mark.slow
def test_row2_a_failing_engine_is_a_row_with_its_error_and_only_asked_engines_run(clashing_run):
    default = clashing_run("--profile", "edge")
    assert default.returncode == 0, default.stderr
    assert {r["engine"] for r in json.loads(default.stdout)["rows"]} == {"onnxruntime"}  # boom is not run
    out = clashing_run("--profile", "edge", "--baseline-engine", "boom", "--baseline-engine", "torch")
    assert out.returncode == 0, out.stderr
    rows = {(r["engine"], r["run"]): r for r in json.loads(out.stdout)["rows"]}
    failed = rows[("boom", "1 process, 1 thread")]
    assert failed["error"] == "engine 'boom' (parawire-bad) failed: RuntimeError: no accelerator here"
    assert failed["median_ms"] is None
    assert rows[("torch", "1 process, 1 thread")]["median_ms"] > 0
    assert "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("engine, problem", [
    ("missing", "compile returned no block for vertex"),
    ("narrow", "compile's block for vertex"),
])
def test_row3_an_engine_missing_a_vertex_or_shape_stops_run_with_one_line(clashing_run, engine, problem):
    out = clashing_run("--profile", "edge", "--engine", engine)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"engine '{engine}' (parawire-bad): {problem}" in out.stderr


CLASH_EVERY_DEFAULT = """
    from parawire.plugin import (CodecPlugin, EnginePlugin, GeneratorPlugin, NoParams, PartitionerPlugin,
                                 ScorePlugin, StagingPlugin, TransportPlugin, hookimpl)


    def taken(**_):  # parawire must never run these: it selects its own plugins by qualified name
        raise RuntimeError("a third party's plugin ran where parawire's own was meant")


    def each(record, names, call):
        return [record(name=n, summary="clash", params=NoParams, **{call: taken}) for n in names]


    @hookimpl
    def parawire_generators():
        return each(GeneratorPlugin, ["er", "ba", "ws", "dp", "fb", "chain"], "generate")


    @hookimpl
    def parawire_staging_policies():
        return each(StagingPlugin, ["probabilistic", "greedy", "uniform"], "assign")


    @hookimpl
    def parawire_partitioners():
        return each(PartitionerPlugin, ["multilevel"], "partition")


    @hookimpl
    def parawire_scores():
        return each(ScorePlugin, ["cs"], "score")


    @hookimpl
    def parawire_transports():
        return each(TransportPlugin, ["zmq", "inproc"], "factory")


    @hookimpl
    def parawire_engines():
        return [EnginePlugin(name=n, summary="clash", params=NoParams, compile=taken, whole=taken)
                for n in ("torch", "onnxruntime")]


    @hookimpl
    def parawire_codecs():
        return each(CodecPlugin, ["raw"], "factory")
"""


@pytest.mark.slow
def test_item2_a_third_party_named_like_every_default_breaks_no_command_that_did_not_type_it(tmp_path):
    """Every built-in name parawire uses as a default (generators of the study, staging,
    partitioner, score, transport, engines, codec) also provided by ``parawire-clash``:
    commands left at their defaults select parawire's own; a bare name typed by the user
    is still refused as ambiguous."""
    site = tmp_path / "site"
    install_fake_dist(site, "parawire-clash", "clash_every_default", CLASH_EVERY_DEFAULT, "clash")
    env = {k: v for k, v in os.environ.items() if k != "PARAWIRE_PLUGIN_WARNINGS_SHOWN"}
    env.update(PYTHONPATH=str(site), XDG_CACHE_HOME=str(tmp_path / "cache"), COLUMNS="200")

    def parawire(*argv):
        return subprocess.run([sys.executable, "-m", "parawire", *argv], capture_output=True, text=True, env=env,
                              timeout=600, check=False, cwd=tmp_path)

    def ok(*argv):
        out = parawire(*argv)
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
        return out

    arch = tmp_path / "arch.json"
    ok("generate", "-n", "10", "-s", "1", "--base-channels", "8", "--input-shape", "3", "16", "16", "-o", str(arch))
    assert json.loads(arch.read_text())["generator"] == "parawire:dp"  # the file means the same everywhere
    rows = json.loads(ok("score", str(arch), "--units", "2", "--json").stdout)["rows"]
    assert {(r["partitioner"], r["score_name"]) for r in rows} == {("parawire:multilevel", "parawire:cs")}
    run = json.loads(ok("run", str(arch), "--units", "2", "--local", "--runs", "1", "--profile", "edge",
                        "--json").stdout)
    # the workers' row says how the engine was selected, single-process rows name the record (as in row 1)
    assert {r["engine"] for r in run["rows"]} == {"parawire:onnxruntime", "onnxruntime"} and run["codec"] == "raw"
    assert all(r["error"] is None for r in run["rows"])
    grid = json.loads(ok("study", "grid", "--quick", "--samples", "1", "--units", "2", "--out",
                         str(tmp_path / "study.csv"), "--json").stdout)
    assert {c["generator"] for c in grid["cells"]} == {"er", "ba", "ws", "dp", "fb", "chain"}  # labels as before
    ok("testbed", "status")
    # testbed run: its defaults pass; it stops (before any testbed) at a parameter the default engine lacks
    out = parawire("testbed", "run", str(arch), "--devices", "1", "--engine-param", "nonesuch=1")
    assert out.returncode == 2 and "ambiguous" not in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert "nonesuch" in out.stderr and "onnxruntime" in out.stderr, out.stderr
    typed = parawire("score", str(arch), "--units", "2", "--partitioner", "multilevel")
    assert typed.returncode == 2 and "partitioner 'multilevel' is ambiguous" in typed.stderr


def test_loading_every_plugin_imports_no_torch():
    """Every command and worker process loads all plugins; torch (1.3 s to import) must
    wait for the first network. The test package's transport subclasses ``ZmqTransport``
    and imports ``ProtocolError``, as a third party's would: neither may pull torch in."""
    code = ("import sys; from parawire.registry.manager import get_plugins; p = get_plugins(); "
            "print('parawire_plugin_pkg' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "False"]
