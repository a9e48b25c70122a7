"""The plugin manager: load the ``parawire`` entry-point group and build the registries.

Built-ins live in ``parawire.plugins`` and are listed in parawire's own
``pyproject.toml`` under ``[project.entry-points.parawire]``, the same door a third-party
distribution uses, so every run exercises the third-party path.

Failures are isolated per entry point: one that fails to import, implements a hook
that does not exist (a misspelt name), or whose hooks raise or return something other
than records of their kind is set aside as a :class:`LoadFailure` naming its
distribution, with a :class:`PluginLoadWarning`; everything else keeps working, and
``parawire plugins`` lists it as failed. It contributes no record at all, so a half-
loaded plugin never runs.

Environment switches (read when a manager is created):

* ``PARAWIRE_DISABLE_PLUGIN_AUTOLOAD=1``: load only parawire's own entry points.
* ``PARAWIRE_STRICT_PLUGINS=1``: a plugin that fails to load raises at once
  (for the CI of plugin authors) instead of being reported and skipped.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib import metadata
from typing import Any

import pluggy
from parawire.errors import PluginError
from parawire.registry import hookspecs
from parawire.registry.kinds import OWN_DISTRIBUTION, QUALIFIER, LoadFailure, Registry
from parawire.registry.loading import loading
from parawire.registry.records import API_VERSION, DEFAULT_ENGINE, KINDS, PluginRecord
from pydantic import BaseModel, ValidationError

ENTRY_POINT_GROUP = "parawire"
WARNED = "PARAWIRE_PLUGIN_WARNINGS_SHOWN"
"""Environment variable listing the load failures already warned about (``dist:entry``,
comma-separated): set by the first process that warns, inherited by every process it
starts (``parawire worker`` processes of ``run --local``, the testbed's), so a broken
plugin is reported once per process tree, not once per worker."""


PLUGIN_FAULTS = (Exception, SystemExit)
"""What a plugin's import or hooks may raise and be set aside for: errors, and
``sys.exit()`` (a plugin module written as a script). Other ``BaseException``s come from
outside the plugin (Ctrl-C, the command line's SIGTERM handler raising in the main
thread while a plugin happens to import) and must stop the command as they would anywhere."""


class PluginLoadWarning(UserWarning):
    """A plugin failed to load; the rest of parawire still works."""


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _distribution(ep: metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else "unknown"


def _fail(failures: list[LoadFailure], ep_name: str, dist: str, exc: BaseException) -> None:
    """Record a failure, or raise it at once in strict mode."""
    failure = LoadFailure(ep_name, dist, exc)
    if _flag("PARAWIRE_STRICT_PLUGINS"):
        raise PluginError(
            f"plugin {ep_name!r} from distribution {dist!r} failed to load: {failure.describe()}"
        ) from exc
    failures.append(failure)
    _warn_once(failure)


def _warn_once(failure: LoadFailure) -> None:
    """A :class:`PluginLoadWarning` for ``failure`` unless this process or the one that
    started it warned already (:data:`WARNED`). It is attributed to the distribution,
    not to a line of parawire's code: the user can act on the one, not on the other."""
    key = f"{failure.distribution}{QUALIFIER}{failure.entry_point}"
    shown = set(filter(None, os.environ.get(WARNED, "").split(",")))
    if key in shown:
        return
    os.environ[WARNED] = ",".join(sorted(shown | {key}))
    warnings.warn_explicit(
        f"parawire plugin {failure.entry_point!r} from distribution {failure.distribution!r} failed to load"
        f" ({failure.describe()}); it is skipped (`parawire plugins` lists it)",
        PluginLoadWarning, filename=f"<{failure.distribution}>", lineno=0, module="parawire.plugins",
    )


def check_api(plugin: object) -> None:
    """Refuse a plugin module written for another plugin API (``PARAWIRE_API`` in it,
    see :data:`~parawire.registry.records.API_VERSION`); one without the attribute is taken."""
    declared = getattr(plugin, "PARAWIRE_API", None)
    if declared is None:
        return
    ours = tuple(int(x) for x in API_VERSION.split("."))
    try:
        wanted = tuple(int(x) for x in str(declared).split("."))[:2]
    except ValueError:
        raise PluginError(f"PARAWIRE_API: got {declared!r}; write it as MAJOR.MINOR, e.g. {API_VERSION!r}") from None
    if wanted[0] != ours[0] or wanted > ours:
        raise PluginError(
            f"written for parawire plugin API {declared}; this parawire provides {API_VERSION}"
            f" (install a release of the plugin for API {ours[0]}.x, or a parawire that provides {declared})"
        )


def unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """The hooks ``plugin`` implements that no spec declares (misspelt names)."""
    return sorted(
        caller.name
        for caller in pm.get_hookcallers(plugin) or ()
        if not caller.has_spec()
        and any(i.plugin is plugin and not i.optionalhook for i in caller.get_hookimpls())
    )


def register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    """Register ``plugin`` under ``name`` (``distribution:entry point``), refusing hooks
    that do not exist with a message that names the closest real one."""
    pm.register(plugin, name=name)
    bad = unknown_hooks(pm, plugin)
    if bad:
        pm.unregister(plugin)
        known = list(hookspecs.HOOKS.values())
        hints = [
            f"{b!r}" + (f" (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(b, known, n=1)) else "")
            for b in bad
        ]
        raise PluginError(f"unknown hook {', '.join(hints)}; parawire's hooks: {', '.join(known)}")


def new_manager(*, autoload: bool | None = None) -> tuple[pluggy.PluginManager, list[LoadFailure]]:
    """A fresh manager with the hook specs and the entry points loaded one at a time.

    Returns the manager and the entry points that failed to load (in strict mode the
    first failure raises instead).
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
        name = f"{dist}{QUALIFIER}{ep.name}"
        if pm.has_plugin(name):  # the same distribution seen twice on sys.path
            continue
        try:
            plugin = ep.load()
            if pm.is_registered(plugin):  # two entry points naming one module
                continue
            check_api(plugin)
            register(pm, plugin, name)
        except PLUGIN_FAULTS as exc:
            _fail(failures, ep.name, dist, exc)
    return pm, failures


class Plugins:
    """The registries in force, one per kind: ``plugins.generators``, ``plugins.scores``,
    … (an attribute per entry of :data:`parawire.registry.records.KINDS`), with the manager and
    the load failures they came from."""

    def __init__(
        self, registries: dict[str, Registry[Any]], manager: pluggy.PluginManager,
        failures: list[LoadFailure],
    ) -> None:
        self.registries = registries
        self.manager = manager
        self.failures = failures

    def __getattr__(self, kind: str) -> Registry[Any]:
        try:
            return self.__dict__["registries"][kind]
        except KeyError:
            raise AttributeError(f"no plugin kind {kind!r}; kinds: {', '.join(KINDS)}") from None

    def kinds(self) -> dict[str, Registry[Any]]:
        return dict(self.registries)

    def conflicts(self) -> dict[str, dict[str, list[str]]]:
        """kind → name → distributions, for every name provided more than once."""
        return {k: c for k, r in self.registries.items() if (c := r.conflicts())}


def _check(record: object, kind: str, hook_name: str) -> None:
    expected = KINDS[kind]
    if not isinstance(record, expected):
        raise PluginError(f"returned {type(record).__name__} from {hook_name}; expected {expected.__name__}")
    name = record.name
    if not isinstance(name, str) or not name or QUALIFIER in name or name != name.strip():
        raise PluginError(f"{expected.__name__}.name: got {name!r}; use a non-empty name without ':' or spaces")
    label = f"{expected.kind} {name!r}"
    if not (isinstance(record.params, type) and issubclass(record.params, BaseModel)):
        raise PluginError(f"{label}: params must be a pydantic model class (NoParams for none)")
    bad = bad_default(record.params)
    if bad:
        raise PluginError(f"{label}: {bad}")
    if not callable(record.function):
        raise PluginError(f"{label}: {record.call_attr} must be callable, got {record.function!r}")


@lru_cache(maxsize=256)
def bad_default(model: type[BaseModel]) -> str:
    """'' if every default of ``model`` passes the model's own constraints, else the
    first that does not, in words. Pydantic never validates defaults, so a default out of
    its own bounds (``Field(-1, ge=0)``) would otherwise reach the plugin unchecked on
    every run that does not set the parameter."""
    # the defaults validated as given values, by field name: a subclass with
    # validate_default=True says the same but cost 5 ms a model, on every command's start
    defaults = {name: info.get_default(call_default_factory=True)
                for name, info in model.model_fields.items() if not info.is_required()}
    try:
        model.model_validate(defaults, by_name=True)
    except ValidationError as exc:
        for error in exc.errors():
            field_name = error["loc"][0] if error["loc"] else None
            if error["type"] != "missing" and field_name in defaults:
                return (f"params.{field_name}: default {defaults[field_name]!r} fails its own bounds"
                        f" ({error['msg']}); fix the default or the bound")
    return ""


def records_of(pm: pluggy.PluginManager, plugin: object) -> list[tuple[str, PluginRecord]]:
    """Every record ``plugin`` registers, checked and tagged with its distribution;
    raises (with the plugin's own error as cause) if any hook of it misbehaves."""
    provider = (pm.get_name(plugin) or "unknown").split(QUALIFIER, 1)[0]
    records: list[tuple[str, PluginRecord]] = []
    for kind, hook_name in hookspecs.HOOKS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin is not plugin:
                continue
            try:
                output = impl.function()
            except PLUGIN_FAULTS as exc:
                raise PluginError(f"{hook_name}() raised {type(exc).__name__}: {exc}") from exc
            if isinstance(output, PluginRecord):  # iterating it would blame a TypeError on the hook
                raise PluginError(f"{hook_name}() returned one {type(output).__name__}; return a list: [record]")
            try:
                returned = list(output or ())
            except PLUGIN_FAULTS as exc:
                raise PluginError(f"{hook_name}() returned {type(output).__name__}; return a list of records") from exc
            for record in returned:
                _check(record, kind, hook_name)
                records.append((kind, dataclasses.replace(record, distribution=provider)))
    return records


def collect(pm: pluggy.PluginManager, failures: Iterable[LoadFailure] = ()) -> Plugins:
    """Call every registered plugin's hooks and build the registries.

    Each plugin's hooks are called on their own, so each record is tagged with the
    distribution that gave it, and a plugin whose hooks fail is set aside whole.
    """
    failures = list(failures)
    registries: dict[str, Registry[Any]] = {
        kind: Registry(kind=record.kind, failures=failures) for kind, record in KINDS.items()
    }
    for name, plugin in pm.list_name_plugin():
        try:
            records = records_of(pm, plugin)
        except PluginError as exc:
            dist, _, entry_point = name.partition(QUALIFIER)
            _fail(failures, entry_point or name, dist, exc)
            continue
        for kind, record in records:
            registries[kind].add(record)
    return Plugins(registries, manager=pm, failures=failures)


_override: list[Plugins] = []


@lru_cache(maxsize=1)
def _default_plugins() -> Plugins:
    with loading():
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


def resolve_engine(engine: str | None) -> str:
    """The engine plugin a target computes with (``None``: parawire's default engine, the
    workers' default too, selected as parawire's own even if another distribution
    provides the name); an unknown name fails here, listing the known ones."""
    engines = get_plugins().engines
    name = engine or engines.own(DEFAULT_ENGINE)
    engines.get(name)
    return name
