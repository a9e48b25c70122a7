"""Plugin parameters as ``NAME=VALUE`` text, both ways.

The command line reads them (``parawire.cli.params``) and the executor writes them when
it starts ``parawire worker`` processes with a transport's parameters; one reading rule
serves both, so a value survives the round trip.
"""

from __future__ import annotations

import json
from typing import Any


def parse_value(text: str) -> Any:
    """``true``/``false`` → bool, then int, then float, then JSON, else the text itself."""
    if text.lower() in {"true", "false"}:
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text[:1] in '[{"':
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    return text


def format_params(values: dict[str, Any]) -> list[str]:
    """The inverse of :func:`parawire.cli.params.parse_params` for JSON-able values (to start a subprocess)."""
    return [f"{k}={v if isinstance(v, str) and parse_value(v) == v else json.dumps(v)}" for k, v in values.items()]
