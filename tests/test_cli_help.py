"""``--help`` is fast: no command's help imports torch (or numpy, matplotlib, pydantic for
the top-level listing), ``-h`` works everywhere, and the listing's summaries are the
commands' own."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from parawire.cli import COMMANDS, SUMMARIES, cli, main
from parawire.cli.study import SUBCOMMANDS, study
from parawire.cli.study import SUMMARIES as STUDY_SUMMARIES

EVERY = [[], *([name] for name in COMMANDS), *(["study", name] for name in SUBCOMMANDS)]

PROBE = """
import contextlib, io, json, sys
from parawire.cli import main
heavy = ("torch", "numpy", "matplotlib", "networkx", "pydantic", "zmq")
seen = {}
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()):
        main(argv + ["--help"])
    seen[" ".join(argv)] = [m for m in heavy if m in sys.modules]
print(json.dumps(seen))
"""


def test_no_help_imports_torch_and_the_listing_imports_nothing_heavy():
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(EVERY)],
                          capture_output=True, text=True, timeout=120, check=True)
    seen = json.loads(done.stdout)
    assert seen[""] == []  # `parawire --help`: click only
    assert {command: [m for m in mods if m in ("torch", "matplotlib")] for command, mods in seen.items()} == {
        " ".join(argv): [] for argv in EVERY
    }


@pytest.mark.parametrize("group, names, summaries", [(cli, COMMANDS, SUMMARIES), (study, SUBCOMMANDS, STUDY_SUMMARIES)])
def test_listing_summaries_are_the_commands_own(group, names, summaries):
    ctx = click.Context(group)
    assert set(summaries) <= set(names)  # a command without a summary is imported for it
    for name in summaries:
        assert summaries[name] == group.get_command(ctx, name).get_short_help_str(1000)


@pytest.mark.parametrize("argv", EVERY, ids=lambda argv: " ".join(argv) or "parawire")
def test_dash_h_is_help(argv, capsys):
    main([*argv, "-h"])
    assert capsys.readouterr().out.startswith("Usage: parawire")


def test_short_options_mean_one_thing_everywhere():
    """-n is --nodes, -u --units, -o an output file, -r --runs, wherever they appear; the
    testbed's -n (its runs, in every command of the issues that measured it) is the one
    exception, kept beside -r for older scripts."""
    meaning = {"-n": "--nodes", "-u": "--units", "-o": "--output", "-r": "--runs", "-g": "--generator",
               "-s": "--seed", "-p": "--param", "-v": "--verbose", "-h": "--help",
               "-V": "--version", "-q": "--quiet", "-d": "--directory"}
    ctx = click.Context(cli)
    commands = [cli.get_command(ctx, n) for n in COMMANDS if n != "study"]
    commands += [study.get_command(ctx, n) for n in SUBCOMMANDS]
    commands += [sub for group in commands if isinstance(group, click.Group) for sub in group.commands.values()]
    for command in commands:
        for param in command.get_params(ctx):
            for short in (o for o in param.opts if len(o) == 2):
                assert short in meaning, f"{command.name}: unexpected {short}"
                if short == "-n" and command.name in ("run", "calibrate") and "--runs" in param.opts \
                        and command.callback.__module__ == "parawire.cli.testbed":
                    continue
                assert meaning[short] in param.opts, f"{command.name}: {short} is not {meaning[short]}"


@pytest.mark.parametrize("words, expected", [
    ("generate --generator d", ["dp"]),
    ("study accuracy --generators er,w", ["er,ws"]),
    ("run arch.json --partitioner mu", ["multilevel"]),
])
def test_plugin_names_complete_in_the_shell(words, expected):
    from click.shell_completion import ShellComplete

    *args, incomplete = words.split()
    completer = ShellComplete(cli, {}, "parawire", "_PARAWIRE_COMPLETE")
    assert [item.value for item in completer.get_completions(args, incomplete)] == expected


def test_score_help_shows_the_real_eps_sweep():
    from parawire.cli.score import DEFAULT_EPS_TEXT
    from parawire.pipeline.score import DEFAULT_EPS

    assert DEFAULT_EPS_TEXT == " ".join(map(str, DEFAULT_EPS))
