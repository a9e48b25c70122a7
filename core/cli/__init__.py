"""The ``parawire`` command line.

Every failure a user can cause (bad option, bad file, unwritable output, a plugin's
error) is printed by :func:`main` as one ``error: …`` line with a non-zero exit, never a
traceback (:mod:`parawire.cli.failures`). The shared pieces every command uses live in
small modules beside this one: :mod:`~parawire.cli.outputs` (output paths checked before
work), :mod:`~parawire.cli.progress` (progress on stderr), :mod:`~parawire.cli.printing`
(80-column tables, ``--json``) and :mod:`~parawire.cli.options` (shared options).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from parawire.cli.failures import exit_with, run_command
from parawire.cli.lazy import LazyGroup
from parawire.cli.verbosity import verbosity_options
from parawire.registry.loading import while_loading

#: ``-h`` and ``--help`` everywhere (subcommands inherit the context settings).
CONTEXT = {"help_option_names": ["-h", "--help"]}

COMMANDS = {
    "plugins": "parawire.cli.plugins:plugins",
    "plugin": "parawire.cli.plugin_new:plugin",
    "generate": "parawire.cli.generate:generate",
    "show": "parawire.cli.generate:show",
    "study": "parawire.cli.study:study",
    "score": "parawire.cli.score:score",
    "plot": "parawire.cli.plot:plot",
    "run": "parawire.cli.run:run",
    "worker": "parawire.cli.worker:worker",
    "keys": "parawire.cli.keys:keys",
    "train": "parawire.cli.train:train",
    "demo": "parawire.cli.demo:demo",
    "testbed": "parawire.cli.testbed:testbed",
    "completion": "parawire.cli.completion:completion",
    "search": "parawire.cli.search:search",
}


#: One-line summaries for ``parawire --help`` without importing every command (a test
#: keeps each equal to its command's own; a command missing here is imported for it).
SUMMARIES = {
    "plugins": "List every plugin by kind: name, description, distribution and version, parameters.",
    "plugin": "Tools for plugin authors.",
    "generate": "Draw an architecture, print its statistics and save its spec.",
    "show": "Print a saved spec (or a --model's import), its DAG statistics and its width per depth level.",
    "study": "Reproduce the paper's studies (grid, params, accuracy).",
    "score": "Score SPEC_FILE's architecture (or a --model's) on each unit count for each ε.",
    "plot": "Draw Fig. 7–12 and Table 4 from a study table; optionally the report.",
    "run": "Run SPEC_FILE (or a --model) on UNITS workers and compare with one process.",
    "worker": "Serve one unit: wait for a deployment, then run requests as inputs arrive.",
    "keys": "Write server and client key pairs and an `authorized/` directory into DIRECTORY.",
    "testbed": "Emulated devices: network namespaces, tbf-shaped links, CFS CPU quotas (root only).",
    "train": "Train SPEC_FILE's network with SGD and report top-1 accuracy on the test split.",
    "demo": "Quick study → figures → the most concurrent architecture on 2 local workers.",
    "completion": "Print the shell completion script for SHELL (bash, zsh or fish).",
    "search": "Search for the fastest architecture on K devices of a profile under the targets given.",
}


@click.group(cls=LazyGroup, lazy=COMMANDS, summaries=SUMMARIES, context_settings=CONTEXT)
@verbosity_options
def cli() -> None:
    """Design concurrent neural architectures, score them, run them distributed."""
    while_loading(plugins_loading)


@contextmanager
def plugins_loading() -> Iterator[None]:
    """Shown while the plugins load (seconds of imports before a command's first output)."""
    from parawire.cli.progress import Progress

    with Progress().busy("loading the plugins (and torch)"):
        yield


def main(argv: list[str] | None = None) -> None:
    exit_with(run_command(cli, argv, prog_name="parawire"))


if __name__ == "__main__":  # pragma: no cover
    main()
