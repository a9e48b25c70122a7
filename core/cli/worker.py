"""``parawire worker``: serve one unit of a distributed inference."""

from __future__ import annotations

import logging
import signal
from pathlib import Path

import click
from parawire.cli.options import Endpoint, own_if_default, plugin_names, threads_option
from parawire.cli.params import param_option

#: The executor's limits (``module:NAME`` → bytes), repeated here so that ``--help`` shows
#: the numbers without importing the executor (it imports torch); a test keeps them equal.
LIMITS = {
    "parawire.executor.protocol:DEFAULT_MAX_MESSAGE_BYTES": 1 << 30,
    "parawire.executor.runner:DEFAULT_MAX_PARKED_BYTES": 1 << 30,
    "parawire.executor.worker:DEFAULT_MAX_DEPLOY_BYTES": 4 << 30,
}


def limit_option(flag: str, target: str, help: str):  # type: ignore[no-untyped-def]
    """A byte limit whose default is the executor's, shown in ``--help`` as GiB; at most
    2**62, so libzmq's 64-bit ``MAXMSGSIZE`` (the limit plus headers) can hold it."""
    value = LIMITS[target]
    return click.option(flag, type=click.IntRange(min=1024, max=1 << 62), default=value, show_default=f"{value} = {value / (1 << 30):g} GiB",
                        help=help)


@click.command()
@click.option("--bind", default="tcp://127.0.0.1:5701", show_default=True, type=Endpoint(any_port=True),
              help="endpoint to serve: tcp://HOST:PORT (PORT * = any free one) or ipc://PATH")
@click.option("--transport", default="zmq", show_default=True, shell_complete=plugin_names("transports"),
              help="transport plugin (see `parawire plugins --kind transports`)")
@param_option("transport")
@param_option("engine")
@click.option("--curve-secret", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="this worker's *.key_secret file (from `parawire keys`); needed beyond loopback")
@click.option("--curve-clients", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="directory of public keys allowed to connect (coordinator and peer workers)")
@click.option("--owner-secret", type=click.Path(dir_okay=False, path_type=Path),
              help="accept deployments only from coordinators holding this secret (owner.secret from"
                   " `parawire keys`); without it anyone who reaches the socket may deploy")
@threads_option(what="this worker")
@limit_option("--max-message-bytes", "parawire.executor.protocol:DEFAULT_MAX_MESSAGE_BYTES",
              "larger messages (all frames together) are dropped")
@limit_option("--max-parked-bytes", "parawire.executor.runner:DEFAULT_MAX_PARKED_BYTES",
              "tensors held for requests in flight, all together; past it the oldest are forgotten")
@limit_option("--max-deploy-bytes", "parawire.executor.worker:DEFAULT_MAX_DEPLOY_BYTES",
              "refuse deployments whose parameters + activations are estimated larger")
@click.option("--allow-model", "allow_models", multiple=True, metavar="REF",
              help="model factory (FILE.py:FACTORY or package.module:FACTORY) a deployment may"
                   " make this worker import; importing runs its code (repeat for several)")
@click.option("--exit-with-parent", is_flag=True, hidden=True)
@click.option("-v", "--verbose", is_flag=True, help="log every dropped message and deployment")
def worker(bind, transport, transport_params, engine_params, curve_secret, curve_clients, owner_secret, threads,
           max_message_bytes, max_parked_bytes, max_deploy_bytes, allow_models, exit_with_parent, verbose) -> None:
    """Serve one unit: wait for a deployment, then run requests as inputs arrive."""
    # SIGTERM while still starting (importing torch: long on a busy machine) is a stop too:
    # `run --local` gives up on slow workers that way, and each printing "terminated" was
    # noise. The default action ends the process at once; there is nothing to clean up yet
    # (an exception raised from a handler could instead be swallowed by an import).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    from parawire.errors import ParawireError
    from parawire.executor.security import Curve, check_bind, load_owner_secret
    from parawire.executor.transport import transport_record
    from parawire.executor.worker import Worker
    from parawire.models.deploy import deployment_builder

    transport = own_if_default(click.get_current_context(), "transport", transport, "transports")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if curve_clients is not None and curve_secret is None:
        raise ParawireError("--curve-clients needs --curve-secret (this worker's key pair)")
    curve = Curve.load(curve_secret, curve_clients) if curve_secret is not None else None
    check_bind(bind, curve)
    owner = load_owner_secret(owner_secret) if owner_secret is not None else None
    record, params = transport_record(transport, transport_params)
    if record.in_process:
        raise ParawireError(f"--transport {transport}: works only inside one process; use it with"
                            " `parawire run --local` (threads) instead of a worker process")
    try:
        server = Worker(record.invoke(None, params), bind, curve=curve, threads=threads,
                        builder=deployment_builder(allow_models),
                        max_bytes=max_message_bytes, max_parked_bytes=max_parked_bytes,
                        max_deploy_bytes=max_deploy_bytes, owner_secret=owner, exit_with_parent=exit_with_parent,
                        owns_process=True, engine_params=engine_params, transport_label=record.label)
    except ParawireError:
        raise
    except Exception as exc:  # address in use, bad endpoint, whatever a plugin transport raises
        raise ParawireError(f"--bind {bind}: {record.label} cannot bind ({exc})") from exc
    click.echo(f"parawire worker listening on {server.address}")
    # SIGTERM is how LocalWorkers, the testbed and service managers stop a worker: a normal
    # stop (the loop ends, sockets close, exit 0), not a failure to report on stderr.
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        server.serve()
    except KeyboardInterrupt:
        pass
