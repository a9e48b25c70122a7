"""Reading what a command is given, with every check that can run before the work.

A spec file is validated by pydantic when it is read, but some of its names only mean
something once looked up among the installed plugins (the staging policy, its
parameters): :func:`load_spec` does that too, so ``parawire show`` refuses a spec that
``parawire run`` would refuse later (more units than vertices:
:func:`parawire.pipeline.placement.check_units`, shared with ``run_model``).
A spec named ``-`` is read from stdin (``parawire generate -o - | parawire score - -u 4``),
JSON or TOML by its first character.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: The file name that means stdin (a spec) or stdout (``generate -o -``).
DASH = Path("-")


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
