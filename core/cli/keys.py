"""``parawire keys``: CURVE key pairs for workers and coordinator."""

from __future__ import annotations

from pathlib import Path

import click
from parawire.cli.outputs import OutputDir


@click.command()
@click.argument("directory", type=OutputDir())
@click.option("--force", is_flag=True, help="replace keys already in DIRECTORY (they are kept otherwise)")
def keys(directory: Path, force: bool) -> None:
    """Write server and client key pairs and an `authorized/` directory into DIRECTORY.

    Secret keys (*.key_secret) and owner.secret are readable by you only (mode 0600);
    DIRECTORY and its authorized/ must be yours and not writable by others.

    Workers: --curve-secret DIR/server.key_secret --curve-clients DIR/authorized.
    Coordinator: parawire run --curve-secret DIR/client.key_secret
    --curve-server DIR/server.key (or Cluster.connect(..., curve_secret=…, curve_server=…)).
    Without CURVE (loopback): workers --owner-secret DIR/owner.secret accept deployments
    only from parawire run --owner-secret DIR/owner.secret (or Cluster.connect(...,
    owner_secret="DIR/owner.secret")).
    A DIRECTORY that already holds keys is refused unless --force: new keys would lock
    out every worker and coordinator still using the old ones.
    """
    from parawire.executor.security import generate_keys

    paths = generate_keys(directory, force=force)
    for name in ("server", "client"):
        click.echo(f"{name}: {paths[name]} (public: {paths[name + '_public']})")
    click.echo(f"authorized public keys: {paths['authorized']}")
    click.echo(f"owner secret: {paths['owner']}")
