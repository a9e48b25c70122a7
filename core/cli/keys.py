"""``parawire keys``: CURVE key pairs for workers and coordinator."""

from __future__ import annotations

from pathlib import Path

import click
from parawire.cli.outputs import OutputDir


@click.command()
@click.argument("directory", type=OutputDir())
def keys(directory: Path) -> None:
    """Write server and client key pairs and an `authorized/` directory into DIRECTORY.

    Workers: --curve-secret DIR/server.key_secret --curve-clients DIR/authorized.
    Coordinator: parawire run --curve-secret DIR/client.key_secret
    --curve-server DIR/server.key (or Cluster.connect(..., curve_secret=…, curve_server=…)).
    A DIRECTORY that already holds keys is refused: new keys would lock out every
    worker and coordinator still using the old ones.
    """
    from parawire.errors import ParawireError
    from parawire.executor.security import generate_keys

    existing = sorted(p.name for p in directory.glob("*.key*")) if directory.is_dir() else []
    if existing:
        raise ParawireError(
            f"keys {directory}: already holds {', '.join(existing)}; choose an empty folder"
            " (new keys would lock out the workers that use these)"
        )
    paths = generate_keys(directory)
    for name in ("server", "client"):
        click.echo(f"{name}: {paths[name]} (public: {paths[name + '_public']})")
    click.echo(f"authorized public keys: {paths['authorized']}")
