"""The ``parawire`` command line.

Every user-facing failure is a :class:`parawire.errors.ParawireError` whose message is
one line; :func:`main` prints it and exits with status 2, never a traceback.
"""

from __future__ import annotations

import sys

import click
from parawire.cli.lazy import LazyGroup
from parawire.errors import ParawireError

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
}


@click.group(cls=LazyGroup, lazy=COMMANDS)
@click.version_option(package_name="parawire")
def cli() -> None:
    """Design concurrent neural architectures, score them, run them distributed."""


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="parawire", standalone_mode=False)
    except ParawireError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
