"""A pytest plugin for parawire plugin authors (loaded through the ``pytest11`` entry point).

Fixtures:

* ``parawire_plugins``: a fresh plugin manager and registries, built from the installed
  entry points, in force (via :func:`parawire.manager.using`) for the test.
* ``register_plugin``: ``register_plugin(obj, name=...)`` registers an object with
  ``@hookimpl`` functions into that manager, rebuilds the registries and makes them the
  ones in force; everything is unregistered when the test ends.

A contrib package tests itself with nothing more than::

    def test_my_generator(register_plugin):
        plugins = register_plugin(my_module)
        assert "mine" in plugins.generators

Latency suites get ``parawire_cluster`` and ``parawire_single`` (see
:mod:`parawire.testing_latency`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from parawire.manager import Plugins, collect, new_manager, using
from parawire.testing_latency import parawire_cluster, parawire_single  # noqa: F401  (latency suites)


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

        def register(plugin: object, name: str | None = None) -> Plugins:
            pm.register(plugin, name=name or f"test:{getattr(plugin, '__name__', id(plugin))}")
            registered.append(plugin)
            pm.check_pending()
            plugins = collect(pm, parawire_plugins.failures)
            stack.enter_context(using(plugins))
            return plugins

        yield register
        for plugin in registered:
            pm.unregister(plugin)
