"""Reading what a command is given, with every check that can run before the work.

A spec file is validated by pydantic when it is read, but some of its names only mean
something once looked up among the installed plugins (the staging policy, its
parameters): :func:`load_spec` does that too, so ``parawire show`` refuses a spec that
``parawire run`` would refuse later. :func:`check_units` refuses more units than an
architecture has vertices to give them, instead of starting workers that get nothing.
A spec named ``-`` is read from stdin (``parawire generate -o - | parawire score - -u 4``),
JSON or TOML by its first character.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

#: The file name that means stdin (a spec) or stdout (``generate -o -``).
DASH = Path("-")

from parawire.errors import ParawireError


def check_spec_plugins(spec) -> None:
    """The spec's generator and staging policy exist and accept its parameters."""
    from parawire.pipeline.build import generator_params, staging_params

    generator_params(spec)
    staging_params(spec)


def load_spec(path: Path):
    """Read a spec file (JSON or TOML; ``-``: stdin) and check it against the installed plugins."""
    from parawire.graph.spec import ArchitectureSpec

    if Path(path) == DASH:
        text = sys.stdin.read()
        spec = ArchitectureSpec.from_text(text, "json" if text.lstrip().startswith("{") else "toml", "stdin")
    else:
        spec = ArchitectureSpec.load(path)
    check_spec_plugins(spec)
    return spec


def check_units(units: Iterable[int], vertices: int, option: str = "--units") -> None:
    """Every unit count leaves each unit at least one computation vertex."""
    too_many = sorted(u for u in units if u > vertices)
    if too_many:
        raise ParawireError(
            f"{option}: got {', '.join(map(str, too_many))}; the architecture has {vertices}"
            f" computation vertices, so use at most {vertices} units"
        )
