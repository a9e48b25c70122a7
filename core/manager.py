"""The plugin manager: load the ``parawire`` entry-point group and build the registries.

Built-ins live in ``parawire.plugins`` and are listed in parawire's own
``pyproject.toml`` under ``[project.entry-points.parawire]``, the same door a third-party
distribution uses, so every run exercises the third-party path.

Environment switches (read when a manager is created):

* ``PARAWIRE_DISABLE_PLUGIN_AUTOLOAD=1``: load only parawire's own entry points.
* ``PARAWIRE_STRICT_PLUGINS=1``: a plugin that fails to import raises at once
  (for the CI of plugin authors) instead of being reported and skipped.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Any

import pluggy
from parawire import hookspecs
from parawire.errors import PluginError
from parawire.records import (
    KINDS,
    EnginePlugin,
    GeneratorPlugin,
    PartitionerPlugin,
    ScorePlugin,
    StagingPlugin,
    TransportPlugin,
)
from parawire.registry import LoadFailure, Registry

ENTRY_POINT_GROUP = "parawire"
OWN_DISTRIBUTION = "parawire"


class PluginLoadWarning(UserWarning):
    """A plugin distribution failed to import; the rest of parawire still works."""


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _distribution(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else "unknown"


def new_manager(*, autoload: bool | None = None) -> tuple[pluggy.PluginManager, list[LoadFailure]]:
    """A fresh manager with the hook specs and the entry points loaded one at a time.

    Returns the manager and the entry points that failed to import (empty in strict
    mode, which re-raises instead).
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if autoload is None:
        autoload = not _flag("PARAWIRE_DISABLE_PLUGIN_AUTOLOAD")
    failures: list[LoadFailure] = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = _distribution(ep)
        if not autoload and dist != OWN_DISTRIBUTION:
            continue
        name = f"{dist}:{ep.name}"
        if pm.has_plugin(name):  # the same distribution seen twice on sys.path
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            if _flag("PARAWIRE_STRICT_PLUGINS"):
                raise PluginError(
                    f"plugin {ep.name!r} from distribution {dist!r} failed to import: {exc}"
                ) from exc
            warnings.warn(
                f"parawire plugin {ep.name!r} from distribution {dist!r} failed to import"
                f" ({type(exc).__name__}: {exc}); it is skipped",
                PluginLoadWarning,
                stacklevel=2,
            )
            failures.append(LoadFailure(ep.name, dist, exc))
            continue
        pm.register(plugin, name=name)
    pm.check_pending()
    return pm, failures


@dataclass
class Plugins:
    """Typed access to the five registries (``pm.hook.x`` is untyped)."""

    generators: Registry[GeneratorPlugin]
    staging: Registry[StagingPlugin]
    partitioners: Registry[PartitionerPlugin]
    scores: Registry[ScorePlugin]
    transports: Registry[TransportPlugin]
    engines: Registry[EnginePlugin]
    manager: pluggy.PluginManager
    failures: list[LoadFailure]

    def kinds(self) -> dict[str, Registry[Any]]:
        return {kind: getattr(self, kind) for kind in KINDS}


def _provider(pm: pluggy.PluginManager, plugin: object) -> str:
    name = pm.get_name(plugin) or "unknown"
    return name.split(":", 1)[0]


def collect(pm: pluggy.PluginManager, failures: Iterable[LoadFailure] = ()) -> Plugins:
    """Call every registration hook and build the registries.

    Hooks are called implementation by implementation so each record is tagged with
    the distribution that gave it, and a clash names both providers.
    """
    failures = list(failures)
    registries: dict[str, Registry[Any]] = {}
    for kind, hook_name in hookspecs.HOOKS.items():
        registry: Registry[Any] = Registry(kind=KINDS[kind].kind, failures=failures)
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            provider = _provider(pm, impl.plugin)
            for record in impl.function() or ():
                if not isinstance(record, KINDS[kind]):
                    raise PluginError(
                        f"{provider!r} returned {type(record).__name__} from {hook_name};"
                        f" expected {KINDS[kind].__name__}"
                    )
                registry.add(record, provider)
        registries[kind] = registry
    return Plugins(**registries, manager=pm, failures=failures)


_override: list[Plugins] = []


@lru_cache(maxsize=1)
def _default_plugins() -> Plugins:
    pm, failures = new_manager()
    return collect(pm, failures)


def get_plugins() -> Plugins:
    """The registries in force: the innermost :func:`using` block's, else the
    process-wide ones, built once on first use."""
    return _override[-1] if _override else _default_plugins()


@contextmanager
def using(plugins: Plugins) -> Iterator[Plugins]:
    """Make ``plugins`` the registries every lookup sees, for the ``with`` block.

    This is how tests and embedding applications swap in a manager with extra or
    fewer plugins without touching the process-wide cache.
    """
    _override.append(plugins)
    try:
        yield plugins
    finally:
        _override.remove(plugins)
