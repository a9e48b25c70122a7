"""``NAME=VALUE`` options that carry a plugin's parameters from the command line.

One scheme for every kind: ``--param``/``-p`` (generator), ``--staging-param``,
``--partitioner-param``, ``--score-param`` and ``--transport-param``, each repeatable.
Values are read as the least surprising type (``true``/``false``, int, float, JSON for
``[…]``, ``{…}`` and ``"quoted"`` text, else the text itself); the plugin's own
pydantic model then validates and converts them, so a bad value is one line naming
``<kind>_params[<plugin>].<field>``.
"""

from __future__ import annotations

from typing import Any

import click
from parawire.registry.params import parse_value


def parse_params(pairs: tuple[str, ...], option: str = "--param") -> dict[str, Any]:
    """``("a=1", "b=x")`` → ``{"a": 1, "b": "x"}``; a pair without ``=`` names the option."""
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"got {pair!r}; write NAME=VALUE", param_hint=option)
        params[name.strip()] = parse_value(value.strip())
    return params


def param_option(kind: str):
    """A repeatable ``--<kind>-param NAME=VALUE`` option, parsed into a dict."""
    flag = f"--{kind}-param"

    def callback(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> dict[str, Any]:
        return parse_params(value, flag)

    return click.option(
        flag, f"{kind}_params", multiple=True, metavar="NAME=VALUE", callback=callback,
        help=f"a parameter of the {kind} plugin (see `parawire plugins`); repeat for several",
    )
