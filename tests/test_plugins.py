"""The plugin manager: entry points, registries, and the errors users see."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
from fake_dists import GENERATOR_SOURCE, install_fake_dist
from parawire.errors import PluginError
from parawire.hookspecs import hookimpl
from parawire.manager import PluginLoadWarning, collect, get_plugins, new_manager
from parawire.records import GeneratorPlugin, NoParams

BUILTIN_GENERATORS = {"er", "ba", "ws", "dp", "chain", "fb"}


def fresh():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginLoadWarning)
        return collect(*new_manager())


def test_builtins_come_through_our_own_entry_points():
    plugins = fresh()
    assert BUILTIN_GENERATORS <= set(plugins.generators.names())
    for name in BUILTIN_GENERATORS:
        assert plugins.generators.providers[name] == "parawire"
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


def test_same_name_from_two_distributions_names_both(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install_fake_dist(site, "dist-one", "dup_one", GENERATOR_SOURCE.format(name="dup"), "one")
    install_fake_dist(site, "dist-two", "dup_two", GENERATOR_SOURCE.format(name="dup"), "two")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(PluginError, match="'dup' is provided twice: by 'dist-(one|two)' and by 'dist-(one|two)'"):
        collect(*new_manager())


def test_name_clash_with_a_builtin(register_plugin):
    class Clash:
        @hookimpl
        def parawire_generators(self):
            return [GeneratorPlugin(name="er", summary="x", params=NoParams, generate=None)]

    with pytest.raises(PluginError, match="'er' is provided twice: by 'parawire' and by 'test'"):
        register_plugin(Clash(), name="test:clash")


BROKEN = """
    import this_module_does_not_exist_anywhere
"""


def test_broken_distribution_warns_lists_and_raises_only_when_selected(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install_fake_dist(site, "parawire-broken", "broken_plugin", BROKEN, "brokengen")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("PARAWIRE_STRICT_PLUGINS", raising=False)
    with pytest.warns(PluginLoadWarning, match="'parawire-broken' failed to import"):
        pm, failures = new_manager()
    plugins = collect(pm, failures)
    # the rest still works
    assert "dp" in plugins.generators
    assert [f.distribution for f in plugins.failures] == ["parawire-broken"]
    with pytest.raises(PluginError, match="from distribution 'parawire-broken', which failed to load") as err:
        plugins.generators.get("brokengen")
    assert isinstance(err.value.__cause__, ModuleNotFoundError)
    with pytest.raises(PluginError, match="failed to load: parawire-broken"):
        plugins.generators.get("nosuch")


def test_strict_mode_reraises_at_once(tmp_path, monkeypatch):
    site = tmp_path / "site"
    install_fake_dist(site, "parawire-broken", "broken_plugin2", BROKEN, "brokengen")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PARAWIRE_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="'parawire-broken' failed to import") as err:
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


def test_wrong_record_type_is_named(register_plugin):
    class Wrong:
        @hookimpl
        def parawire_generators(self):
            return ["not a record"]

    with pytest.raises(PluginError, match="returned str from parawire_generators; expected GeneratorPlugin"):
        register_plugin(Wrong(), name="wrong:x")


def test_misspelt_hook_fails_at_start_up(parawire_plugins):
    class Misspelt:
        @hookimpl
        def parawire_generator(self):  # missing 's'
            return []

    from pluggy import PluginValidationError

    with pytest.raises(PluginValidationError):
        parawire_plugins.manager.register(Misspelt())
        parawire_plugins.manager.check_pending()


def test_registered_plugin_is_seen_by_the_pipeline(register_plugin):
    from parawire.build import build_dag
    from parawire.spec import ArchitectureSpec

    class Star:
        @hookimpl
        def parawire_generators(self):
            import networkx as nx

            return [
                GeneratorPlugin(
                    name="star", summary="hub", params=NoParams,
                    generate=lambda nodes, params, rng: nx.star_graph(nodes - 1),
                )
            ]

    register_plugin(Star(), name="test:star")
    dag = build_dag(ArchitectureSpec(generator="star", nodes=5))
    assert dag.graph.number_of_edges() == 4 + 1 + 4  # star + input→hub + leaves→output
    with pytest.raises(PluginError):
        get_plugins().generators.get("nostar")


def test_plugins_command_shows_failed_distribution(tmp_path):
    site = tmp_path / "site"
    install_fake_dist(site, "parawire-broken", "broken_plugin3", BROKEN, "brokengen")
    env = {"PYTHONPATH": str(site), "COLUMNS": "250"}
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "parawire", "plugins"],
        capture_output=True, text=True, env={**__import__("os").environ, **env}, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "parawire-broken" in out.stdout and "failed" in out.stdout
    assert "dp" in out.stdout
