"""A name → record table for one plugin kind, with errors a user can act on."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from parawire.errors import PluginError
from parawire.records import PluginRecord

R = TypeVar("R", bound=PluginRecord)


@dataclass(frozen=True)
class LoadFailure:
    """An entry point that failed to import: kept, listed, raised when selected."""

    entry_point: str
    distribution: str
    error: BaseException

    def describe(self) -> str:
        return f"{type(self.error).__name__}: {self.error}"


@dataclass
class Registry(Generic[R]):
    """The records of one kind, each tagged with the distribution that provided it."""

    kind: str
    records: dict[str, R] = field(default_factory=dict)
    providers: dict[str, str] = field(default_factory=dict)
    failures: list[LoadFailure] = field(default_factory=list)

    def add(self, record: R, distribution: str) -> None:
        if record.name in self.records:
            raise PluginError(
                f"{self.kind} {record.name!r} is provided twice: by {self.providers[record.name]!r}"
                f" and by {distribution!r}; uninstall one of them or rename the plugin"
            )
        self.records[record.name] = record
        self.providers[record.name] = distribution

    def get(self, name: str) -> R:
        """The record called ``name``, or an error listing the known names."""
        if name in self.records:
            return self.records[name]
        for failure in self.failures:
            if failure.entry_point == name:
                raise PluginError(
                    f"{self.kind} {name!r} comes from distribution {failure.distribution!r},"
                    f" which failed to load ({failure.describe()})"
                ) from failure.error
        known = ", ".join(sorted(self.records)) or "none"
        close = difflib.get_close_matches(name, list(self.records), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        broken = (
            "; failed to load: " + ", ".join(f.distribution for f in self.failures)
            if self.failures
            else ""
        )
        raise PluginError(f"unknown {self.kind} {name!r}; known: {known}{hint}{broken}")

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names, optionally filtered by a shell wildcard (``"w*"``)."""
        return sorted(n for n in self.records if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self.records

    def __iter__(self) -> Iterator[R]:
        return iter(self.records[n] for n in self.names())

    def __len__(self) -> int:
        return len(self.records)
