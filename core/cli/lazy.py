"""A click group whose subcommands are imported only when used.

``parawire --help`` must stay fast and must not import torch; each command lives in
its own module and is loaded on demand. The group's own help lists each command with
its one-line summary from ``summaries`` when given (a test keeps them equal to the
commands' own), so listing the commands imports none of them; a command without a
summary is imported for it, which is correct, only slower.

Conventions every subcommand gets here, in one place rather than in each module:
``-V/--version`` (as git, pip, cargo take it anywhere) and, for a mistyped command
name, the closest names (``did you mean `score`?``).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util

import click


def print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """Eager ``--version`` callback: ``parawire, version X`` and exit, whatever follows."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    click.echo(f"parawire, version {version('parawire')}")
    ctx.exit()


def version_option() -> click.Option:
    """``-V/--version``, the same on the root and on every subcommand."""
    return click.Option(["-V", "--version"], is_flag=True, expose_value=False, is_eager=True,
                        callback=print_version, help="Show the version and exit.")


def with_version(command: click.Command) -> click.Command:
    """Give a loaded command ``-V/--version`` (once; the command objects are shared), and
    the subcommands of a plain click group too (a :class:`LazyGroup` does its own)."""
    if not any("--version" in param.opts for param in command.params):
        command.params.append(version_option())
    if isinstance(command, click.Group) and not isinstance(command, LazyGroup):
        for sub in command.commands.values():
            with_version(sub)
    return command


def suggestion(name: str, names: list[str]) -> str:
    """``; did you mean `score`?`` for a near miss, else the list to choose from."""
    close = difflib.get_close_matches(name, names, n=2, cutoff=0.6)
    close += [n for n in names if n.startswith(name) and n not in close][: 2 - len(close)]
    if close:
        return "; did you mean " + " or ".join(f"`{n}`" for n in close) + "?"
    return f"; choose from {', '.join(names)}"


class LazyGroup(click.Group):
    def __init__(self, *args, lazy: dict[str, str], summaries: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy
        self.summaries = summaries or {}
        with_version(self)

    def _available(self) -> dict[str, str]:
        return {
            name: target
            for name, target in self.lazy.items()
            if importlib.util.find_spec(target.split(":")[0]) is not None
        }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._available()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = self._available().get(name)
        if target is None:
            command = super().get_command(ctx, name)
            return None if command is None else with_version(command)
        module, attr = target.split(":")
        return with_version(getattr(importlib.import_module(module), attr))

    def resolve_command(self, ctx: click.Context, args: list[str]):  # type: ignore[no-untyped-def]
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            ctx.fail(f"no command {name!r}{suggestion(name, self.list_commands(ctx))}")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.summaries:
                rows.append((name, self.summaries[name]))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
