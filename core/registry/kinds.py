"""A name → record table for one plugin kind, with errors a user can act on.

Two distributions may register the same name. That is not an error by itself (it
would take the whole tool down, ``parawire plugins`` included, for a user who merely
installed two packages): both records are kept, ``parawire plugins`` shows the
conflict, and only *selecting* the bare name fails, telling the user to pick one as
``distribution:name``. Silently preferring one would make a spec file mean different
things on different machines.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from parawire.errors import PluginError
from parawire.graph.spec import OWN_PLUGINS
from parawire.registry.records import PluginRecord

R = TypeVar("R", bound=PluginRecord)

QUALIFIER = ":"
"""Separates a distribution from a plugin name: ``parawire:er``, ``parawire-sbm:sbm``."""

OWN_DISTRIBUTION = OWN_PLUGINS  # parawire's own distribution (defined where specs need it)


def builtin(name: str) -> str:
    """How parawire selects one of its own plugins: ``parawire:er``. Every name parawire
    picks by itself (a default, the calibration's networks) goes through here, so a
    third party registering the same name never breaks a command whose user did not
    type the name; a bare name is only ever one the user typed."""
    return f"{OWN_DISTRIBUTION}{QUALIFIER}{name}"


@dataclass(frozen=True)
class LoadFailure:
    """An entry point that failed to load (import error, misspelt hook, bad records):
    kept, listed by ``parawire plugins``, raised when something of it is selected."""

    entry_point: str
    distribution: str
    error: BaseException

    def describe(self) -> str:
        return f"{type(self.error).__name__}: {self.error}"


@dataclass
class Registry(Generic[R]):
    """The records of one kind; each knows the distribution that provided it."""

    kind: str
    entries: dict[str, list[R]] = field(default_factory=dict)
    failures: list[LoadFailure] = field(default_factory=list)

    def add(self, record: R) -> None:
        """Keep ``record``; a name's records stay sorted by distribution, so listings and
        messages do not depend on the order entry points happened to load in."""
        same = self.entries.setdefault(record.name, [])
        same.append(record)
        same.sort(key=lambda r: r.distribution)

    # -- selection --------------------------------------------------------------------
    def get(self, name: str) -> R:
        """The record called ``name`` (or ``distribution:name``), or a one-line error
        listing the known names, the closest match, or the candidates of a conflict."""
        dist, sep, bare = name.rpartition(QUALIFIER)
        candidates = self.entries.get(bare if sep else name, [])
        if sep:
            chosen = [r for r in candidates if r.distribution == dist]
            if chosen:
                return chosen[0]
            self._raise_failed(bare, dist)
            if candidates:
                raise PluginError(
                    f"{self.kind} {bare!r} is not provided by {dist!r};"
                    f" it is provided by {', '.join(self.qualified(bare))}"
                )
            self._raise_unknown(bare)
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise PluginError(
                f"{self.kind} {name!r} is ambiguous: {len(candidates)} distributions provide it;"
                f" select one as {' or '.join(self.qualified(name))} (or uninstall one)"
            )
        self._raise_failed(name)
        self._raise_unknown(name)

    def own(self, name: str) -> str:
        """The name that selects parawire's own plugin ``name`` here: the bare name while
        no other distribution provides it (so labels stay ``onnxruntime``), else
        ``parawire:name``; for defaults that are also shown to the user. A name parawire
        does not provide (or a qualified one) is returned as it is."""
        providers = {r.distribution for r in self.entries.get(name, [])}
        return builtin(name) if OWN_DISTRIBUTION in providers and len(providers) > 1 else name

    def selectable(self) -> list[str]:
        """One name per plugin that selects exactly it: the bare name where only one
        distribution provides it, ``distribution:name`` for each of a conflict's; for
        "every installed plugin" defaults, which a clash must not make ambiguous."""
        return [q for n in self.names() for q in ([n] if len(self.entries[n]) == 1 else self.qualified(n))]

    def qualified(self, name: str) -> list[str]:
        """``distribution:name`` of every record called ``name``."""
        return [f"{r.distribution}{QUALIFIER}{r.name}" for r in self.entries.get(name, [])]

    def _raise_failed(self, name: str, dist: str | None = None) -> None:
        for failure in self.failures:
            if failure.entry_point == name or failure.distribution == dist:
                raise PluginError(
                    f"{self.kind} {name!r} comes from distribution {failure.distribution!r},"
                    f" which failed to load ({failure.describe()})"
                ) from failure.error

    def _raise_unknown(self, name: str) -> None:
        known = ", ".join(self.names()) or "none"
        close = difflib.get_close_matches(name, self.names(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        broken = (
            "; failed to load: " + ", ".join(sorted({f.distribution for f in self.failures}))
            if self.failures
            else ""
        )
        raise PluginError(f"unknown {self.kind} {name!r}; known: {known}{hint}{broken}")

    # -- listing ----------------------------------------------------------------------
    @property
    def providers(self) -> dict[str, str]:
        """name → its distribution (several, comma-separated, for a conflict)."""
        return {n: ", ".join(r.distribution for r in rs) for n, rs in self.entries.items()}

    def conflicts(self) -> dict[str, list[str]]:
        """name → the distributions that all provide it, for names provided twice or more."""
        return {
            n: [r.distribution for r in rs] for n, rs in sorted(self.entries.items()) if len(rs) > 1
        }

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names, optionally filtered by a shell wildcard (``"w*"``)."""
        return sorted(n for n in self.entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[R]:
        """Every record, by name then distribution (a conflict yields all its records)."""
        return (r for n in self.names() for r in self.entries[n])

    def __len__(self) -> int:
        return len(self.entries)
