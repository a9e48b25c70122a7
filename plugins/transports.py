"""Built-in transports: ``zmq`` (tcp and ipc endpoints) and ``inproc`` (threads and queues).

Both move the same multipart messages (:mod:`parawire.executor.protocol`); a third-party
transport provides a factory returning an object with ``bind``/``link``/``client`` (see
:class:`parawire.executor.transport.Transport`).
"""

from parawire.hookspecs import hookimpl
from parawire.records import NoParams, TransportPlugin


def _zmq(**options):
    from parawire.executor.transport_zmq import ZmqTransport

    return ZmqTransport(**options)


def _inproc(**options):
    from parawire.executor.transport import InprocTransport

    return InprocTransport(**options)


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
        ),
    ]
