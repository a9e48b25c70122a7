"""Built-in transports: ``zmq`` (tcp and ipc endpoints) and ``inproc`` (threads and queues).

Both move the same multipart messages (:mod:`parawire.executor.protocol`); a third-party
transport provides a factory returning an object with ``bind``/``link``/``client`` (see
:class:`parawire.plugin.Transport`, and docs/plugins.md for a worked example).
"""

from parawire.plugin import NoParams, TransportPlugin, hookimpl
from pydantic import BaseModel, ConfigDict, Field


class ZmqParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    copy_below: int | None = Field(None, ge=0, le=2**31 - 1, description=(  # a C int in pyzmq
        "frames smaller than this many bytes are copied into ZeroMQ, larger ones lent without a copy; "
        "default: parawire.executor.transport_zmq.COPY_BELOW (256 KiB, measured)"))


def _zmq(params: ZmqParams):
    from parawire.executor.transport_zmq import ZmqTransport

    return ZmqTransport() if params.copy_below is None else ZmqTransport(params.copy_below)


def _inproc(params: NoParams):
    from parawire.executor.transport import InprocTransport

    return InprocTransport()


@hookimpl
def parawire_transports():
    return [
        TransportPlugin(
            name="zmq",
            summary="ZeroMQ over tcp:// or ipc:// endpoints, optional CURVE encryption",
            params=ZmqParams,
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
