"""``parawire worker``: serve one unit of a distributed inference."""

from __future__ import annotations

import logging
from pathlib import Path

import click
from parawire.cli.params import param_option
from parawire.executor.protocol import DEFAULT_MAX_MESSAGE_BYTES
from parawire.executor.runner import DEFAULT_MAX_PARKED_BYTES
from parawire.executor.worker import DEFAULT_MAX_DEPLOY_BYTES


@click.command()
@click.option("--bind", default="tcp://127.0.0.1:5701", show_default=True,
              help="endpoint to serve: tcp://HOST:PORT (PORT * = any free one) or ipc://PATH")
@click.option("--transport", default="zmq", show_default=True,
              help="transport plugin (see `parawire plugins --kind transports`)")
@param_option("transport")
@click.option("--curve-secret", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="this worker's *.key_secret file (from `parawire keys`); needed beyond loopback")
@click.option("--curve-clients", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="directory of public keys allowed to connect (coordinator and peer workers)")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch intra-op threads of this worker")
@click.option("--max-message-bytes", type=click.IntRange(min=1024), default=DEFAULT_MAX_MESSAGE_BYTES,
              show_default=True, help="larger messages (all frames together) are dropped")
@click.option("--max-parked-bytes", type=click.IntRange(min=1024), default=DEFAULT_MAX_PARKED_BYTES,
              show_default=True, help="tensors held for requests in flight, all together; past it the oldest are forgotten")
@click.option("--max-deploy-bytes", type=click.IntRange(min=1024), default=DEFAULT_MAX_DEPLOY_BYTES,
              show_default=True, help="refuse deployments whose parameters + activations are estimated larger")
@click.option("--exit-with-parent", is_flag=True, hidden=True)
@click.option("-v", "--verbose", is_flag=True, help="log every dropped message and deployment")
def worker(bind, transport, transport_params, curve_secret, curve_clients, threads, max_message_bytes,
           max_parked_bytes, max_deploy_bytes, exit_with_parent, verbose) -> None:
    """Serve one unit: wait for a deployment, then run requests as inputs arrive."""
    from parawire.errors import ParawireError
    from parawire.executor.security import Curve, check_bind
    from parawire.executor.transport import transport_record
    from parawire.executor.worker import Worker

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if curve_clients is not None and curve_secret is None:
        raise ParawireError("--curve-clients needs --curve-secret (this worker's key pair)")
    curve = Curve.load(curve_secret, curve_clients) if curve_secret is not None else None
    check_bind(bind, curve)
    record, params = transport_record(transport, transport_params)
    if record.in_process:
        raise ParawireError(f"--transport {transport}: works only inside one process; use it with"
                            " `parawire run --local` (threads) instead of a worker process")
    try:
        server = Worker(record.invoke(None, params), bind, curve=curve, threads=threads,
                        max_bytes=max_message_bytes, max_parked_bytes=max_parked_bytes,
                        max_deploy_bytes=max_deploy_bytes, exit_with_parent=exit_with_parent)
    except ParawireError:
        raise
    except Exception as exc:  # address in use, bad endpoint, whatever a plugin transport raises
        raise ParawireError(f"--bind {bind}: {record.label} cannot bind ({exc})") from exc
    click.echo(f"parawire worker listening on {server.address}")
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
