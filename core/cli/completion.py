"""``parawire completion SHELL``: the shell's completion script, ready to ``eval``.

click writes the script; this command only names it the way other tools do (``gh
completion``, ``pip completion``) instead of the ``_PARAWIRE_COMPLETE`` variable alone.
Commands, options and installed plugin names then complete (:mod:`parawire.cli.options`).
"""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")
#: Where each shell's script goes to be loaded at every start.
INSTALL = {
    "bash": 'add  eval "$(parawire completion bash)"  to ~/.bashrc',
    "zsh": 'add  eval "$(parawire completion zsh)"  to ~/.zshrc',
    "fish": "parawire completion fish > ~/.config/fish/completions/parawire.fish",
}


@click.command(epilog="To load it at every start: " + "; ".join(f"{s}: {INSTALL[s]}" for s in SHELLS))
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script for SHELL (bash, zsh or fish)."""
    from click.shell_completion import get_completion_class

    root = ctx.find_root()
    script = get_completion_class(shell)(root.command, {}, root.info_name, "_PARAWIRE_COMPLETE").source()
    click.echo(script)
