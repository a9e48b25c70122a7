"""A pytest plugin for parawire plugin authors (loaded through the ``pytest11`` entry point).

Fixtures:

* ``parawire_plugins``: a fresh plugin manager and registries, built from the installed
  entry points, in force (via :func:`parawire.registry.manager.using`) for the test.
* ``register_plugin``: ``register_plugin(obj, name=...)`` registers an object with
  ``@hookimpl`` functions into that manager, rebuilds the registries and makes them the
  ones in force; everything is unregistered when the test ends. ``name`` is
  ``"distribution:entry point"`` (default ``"test:<module name>"``); the records are
  tagged with that distribution. If the object is already registered (the package
  under test is installed, so its entry point loaded it), it is re-registered under
  ``name``, so the fixture works the same installed or not. A plugin that fails to
  load (misspelt hook, bad records, raising hook) raises its one-line error here.

A contrib package tests itself with nothing more than::

    def test_my_generator(register_plugin):
        plugins = register_plugin(my_module)
        assert "mine" in plugins.generators

Latency suites get ``parawire_cluster``, ``parawire_single`` and ``parawire_testbed``
(see :mod:`parawire.testing.latency`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from parawire.errors import PluginError
from parawire.registry.kinds import QUALIFIER
from parawire.registry.manager import (
    PluginLoadWarning,
    Plugins,
    collect,
    new_manager,
    register,
    using,
)
from parawire.testing.latency import parawire_cluster, parawire_single, parawire_testbed  # noqa: F401


@pytest.fixture
def parawire_plugins() -> Iterator[Plugins]:
    pm, failures = new_manager()
    plugins = collect(pm, failures)
    with using(plugins):
        yield plugins


@pytest.fixture
def register_plugin(parawire_plugins: Plugins) -> Iterator[Callable[..., Plugins]]:
    pm = parawire_plugins.manager
    registered: list[object] = []
    with ExitStack() as stack:

        def register_one(plugin: object, name: str | None = None) -> Plugins:
            name = name or f"test{QUALIFIER}{getattr(plugin, '__name__', id(plugin))}"
            if pm.is_registered(plugin):
                pm.unregister(plugin)
            register(pm, plugin, name)
            registered.append(plugin)
            before = len(parawire_plugins.failures)
            with warnings.catch_warnings():  # this plugin's failure is raised below instead
                warnings.simplefilter("ignore", PluginLoadWarning)
                plugins = collect(pm, parawire_plugins.failures)
            mine = [f for f in plugins.failures[before:] if f"{f.distribution}{QUALIFIER}{f.entry_point}" == name]
            if mine:
                raise PluginError(f"{name}: {mine[0].describe()}") from mine[0].error
            stack.enter_context(using(plugins))
            return plugins

        yield register_one
        for plugin in registered:
            if pm.is_registered(plugin):
                pm.unregister(plugin)
