"""Errors a user can act on.

Every error that reaches the command line is a ``ParawireError``: its message is one line
that names the field (or plugin) at fault, the bad value and what is allowed. The CLI
prints that line and exits with status 2 instead of showing a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported for the annotation only: the command line imports this module
    from pydantic import ValidationError  # before anything else and must start fast


class ParawireError(Exception):
    """A problem with the user's input or set-up, explained in one line."""


class SpecError(ParawireError, ValueError):
    """A spec (or a plugin's parameters) failed validation."""


class PluginError(ParawireError, LookupError):
    """A plugin could not be found, loaded, or registered."""


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """Turn pydantic's multi-line report into one line per problem, joined by '; '.

    Each part reads ``field: got VALUE; MESSAGE`` so the user sees what to change.
    """
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        field = f"{prefix}{'.' if prefix and loc else ''}{loc}" or prefix or "spec"
        value = err.get("input")
        shown = repr(value) if not isinstance(value, dict) else "{…}"
        if len(shown) > 40:
            shown = shown[:37] + "…"
        msg = err.get("msg", "invalid").replace("Value error, ", "")
        parts.append(f"{field}: got {shown}; {msg}")
    return "; ".join(parts)
