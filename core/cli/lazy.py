"""A click group whose subcommands are imported only when used.

``parawire --help`` must stay fast and must not import torch; each command lives in
its own module and is loaded on demand. The group's own help lists each command with
its one-line summary from ``summaries`` when given (a test keeps them equal to the
commands' own), so listing the commands imports none of them; a command without a
summary is imported for it, which is correct, only slower.
"""

from __future__ import annotations

import importlib
import importlib.util

import click


class LazyGroup(click.Group):
    def __init__(self, *args, lazy: dict[str, str], summaries: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy
        self.summaries = summaries or {}

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
            return super().get_command(ctx, name)
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

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
