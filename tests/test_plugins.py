"""The plugin manager: entry points, registries, failure isolation, invocation, errors."""

from __future__ import annotations

import json
import os
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


@pytest.mark.parametrize("name", ["a:b", "", " x"])
def test_record_names_are_checked(register_plugin, name):
    with pytest.raises(PluginError) as err:
        register_plugin(generator(name), name="names:x")
    assert str(err.value) == (
        f"names:x: PluginError: GeneratorPlugin.name: got {name!r}; use a non-empty name without ':' or spaces"
    )


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
        return nodes

    def takes_everything(**kwargs):
        seen.update(kwargs)
        return 1

    context = GeneratorContext(nodes=5, rng=np.random.default_rng(0))
    assert GeneratorPlugin("a", "", NoParams, takes_nodes).invoke(context, NoParams()) == 5
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


def test_a_score_that_returns_no_number_is_named(register_plugin):
    from parawire.pipeline.score import score_architecture

    class Bad:
        @hookimpl
        def parawire_scores(self):
            return [ScorePlugin(name="bad", summary="", params=NoParams, score=lambda metrics: "low")]

    register_plugin(Bad(), name="baddist:x")
    dag = __import__("parawire.graph.dag", fromlist=["to_dag"]).to_dag(nx.path_graph(6))
    costs = __import__("types").SimpleNamespace(flops=np.ones(8, dtype=np.int64), out_bytes=np.ones(8, dtype=np.int64))
    with pytest.raises(PluginError, match=r"score 'bad' \(baddist\): returned 'low'; a score must be a number"):
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
    # the packages' own tests pass without installing them (register_plugin does the rest)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(r / "src") for r in roots)}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *[str(r / "tests") for r in roots]],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:]
    assert f"{len(KINDS)} passed" in out.stdout
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

    class Plugin:
        @hookimpl
        def parawire_transports(self):
            return [TransportPlugin(name="refuses", summary="", params=NoParams, factory=Refuses)]

    register_plugin(Plugin(), name="refusing:x")
    with pytest.raises(ParawireError, match="^transport 'refuses' cannot connect: OSError: no route to host$"):
        Cluster.connect(["tcp://127.0.0.1:1"], "refuses")
