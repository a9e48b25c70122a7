"""Built-in transports: ``zmq`` (tcp and ipc endpoints) and ``inproc`` (threads and queues).

Both move the same multipart messages (:mod:`parawire.executor.protocol`); a third-party
transport provides a factory returning an object with ``bind``/``link``/``client`` (see
:class:`parawire.plugin.Transport`, and docs/plugins.md for a worked example).
"""

from parawire.plugin import NoParams, TransportPlugin, hookimpl


def _zmq(params: NoParams):
    from parawire.executor.transport_zmq import ZmqTransport

    return ZmqTransport()


def _inproc(params: NoParams):
    from parawire.executor.transport import InprocTransport

    return InprocTransport()


@hookimpl
def parawire_transports():
    return [
        TransportPlugin(
            name="zmq",
            summary="ZeroMQ over tcp:// or ipc:// endpoints, optional CURVE encryption",
            params=NoParams,
            factory=_zmq,
        ),
        TransportPlugin(
            name="inproc",
            summary="threads and queues inside one process (tests, one-host concurrency)",
            params=NoParams,
            factory=_inproc,
            in_process=True,
        ),
    ]
