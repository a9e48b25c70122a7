"""``parawire keys``: CURVE key pairs for workers and coordinator."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="replace keys already in DIRECTORY (they are kept otherwise)")
def keys(directory: Path, force: bool) -> None:
    """Write server and client key pairs and an `authorized/` directory into DIRECTORY.

    Secret keys (*.key_secret) are readable by you only (mode 0600).

    Workers: --curve-secret DIR/server.key_secret --curve-clients DIR/authorized.
    Coordinator: Cluster.connect(..., curve_secret=DIR/client.key_secret,
    curve_server=DIR/server.key).
    """
    from parawire.executor.security import generate_keys

    paths = generate_keys(directory, force=force)
    for name in ("server", "client"):
        click.echo(f"{name}: {paths[name]} (public: {paths[name + '_public']})")
    click.echo(f"authorized public keys: {paths['authorized']}")
