"""Where a command may write, checked before it does any work.

A study, a training run or a figure set can take minutes; finding out afterwards that
the output folder is read-only or that ``-o x.yaml`` names a format nobody writes loses
all of it. So every output location is checked when the options are parsed (the click
types below) or, for defaults that depend on other options, by :func:`check_output`
before the work starts. Checking creates nothing: folders are made only when a file is
written (:func:`prepare`), so a command that fails leaves no stray directory behind.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import click
from parawire.errors import ParawireError

#: Every command writes under here unless told otherwise.
RESULTS = Path("results")


def _nearest_existing(path: Path) -> Path:
    for parent in (path, *path.parents):
        if parent.exists():
            return parent
    return Path(".")


def check_output(
    path: Path, option: str, *, suffixes: Sequence[str] = (), folder: bool = False
) -> Path:
    """Raise a one-line error unless ``path`` can be written as a file (or folder).

    ``suffixes`` lists the extensions the command can write (its formats); a path with
    another one is refused rather than written in a format its name does not say.
    """
    path = Path(path)
    if path.exists() and path.is_dir() != folder:
        wanted = "is a file; give a folder" if folder else "is a folder; give a file name"
        raise ParawireError(f"{option} {path}: {wanted}")
    if suffixes and not folder and path.suffix.lower() not in suffixes:
        raise ParawireError(
            f"{option} {path}: cannot write {path.suffix or 'a file without extension'};"
            f" use a name ending in {' or '.join(suffixes)}"
        )
    if path.exists():
        if not os.access(path, os.W_OK):
            raise ParawireError(f"{option} {path}: not writable; check its permissions or choose another")
        return path
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise ParawireError(f"{option} {path}: {base} is a file, not a folder; choose another path")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ParawireError(f"{option} {path}: cannot create it in {base} (not writable); choose another path")
    return path


def prepare(path: Path) -> Path:
    """Create the folders a file at ``path`` needs, just before it is written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _option(param) -> str:
    return max(param.opts, key=len) if param is not None and param.opts else "output"


class OutputFile(click.ParamType):
    """A file the command will write, checked at parse time (see :func:`check_output`).

    A failure is raised as the project's own one-line error, naming the long option.
    With ``dash``, ``-`` stands for stdout and is returned as ``Path("-")``.
    """

    name = "file"

    def __init__(self, suffixes: Sequence[str] = (), dash: bool = False):
        self.suffixes = tuple(s.lower() for s in suffixes)
        self.dash = dash

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        if self.dash and str(value) == "-":
            return Path("-")
        return check_output(Path(value), _option(param), suffixes=self.suffixes)


class OutputDir(click.ParamType):
    """A folder the command will write into, checked at parse time."""

    name = "folder"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        return check_output(Path(value), _option(param), folder=True)
