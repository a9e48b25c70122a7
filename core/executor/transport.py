"""What a transport provides, and the in-process one.

A transport moves lists of frames (see :mod:`parawire.executor.protocol`) and knows
nothing about tensors or plans. Three roles:

* an :class:`Inbox` is bound by a worker at its address; everything for that worker
  arrives there (from the coordinator and from peers), each with a reply token;
* a :class:`Link` is a one-way line from a worker to a peer's inbox;
* a :class:`Client` is the coordinator's set of links to all workers, plus the replies
  and connection events (a peer vanished, a handshake was refused) coming back.

The ``inproc`` transport below runs the same messages through :class:`queue.Queue`
between threads of one process: frames are passed by reference (a tensor payload stays
a view of the sender's tensor), so it measures the protocol and scheduling without any
copying, and lets tests run every code path of the worker and coordinator without
sockets. The ZeroMQ transport lives in :mod:`parawire.executor.transport_zmq`.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from parawire.errors import ParawireError

Frames = list[Any]

DEFAULT_MAX_MESSAGE_BYTES = 1 << 30
"""Largest whole message (all frames together) a receiver accepts unless configured otherwise (1 GiB)."""


class ProtocolError(ParawireError):
    """A message that does not follow the protocol; the receiver drops it.

    Defined here, not beside the frame layout in :mod:`~parawire.executor.protocol`, because
    transports raise it and a transport (a third party's included) must not import torch:
    every process that loads the plugins would pay torch's 1.3 s import for it."""


@dataclass
class Incoming:
    """One thing the coordinator received: frames from worker ``index``, an event, or
    ``dropped``: why a message was discarded while it was received (over a bound)."""

    index: int
    frames: Frames | None = None
    event: str | None = None
    dropped: str | None = None


class Inbox(Protocol):
    """``recv`` may raise :class:`ProtocolError` for a message
    it received and discarded (over the whole-message size limit given to ``bind``), or
    a connection it cut. Optional: ``allocating()``, which the worker calls before work
    that grows its memory (a deployment, a warm-up), for a transport that watches memory
    (the ZeroMQ one: :mod:`parawire.executor.arrivals`)."""

    address: str

    def recv(self, timeout_s: float | None) -> tuple[Any, Frames] | None: ...
    def reply(self, token: Any, frames: Frames) -> None: ...
    def close(self) -> None: ...


class Link(Protocol):
    def send(self, frames: Frames) -> bool: ...
    def close(self) -> None: ...


class Client(Protocol):
    addresses: list[str]

    def send(self, index: int, frames: Frames) -> None: ...
    def recv(self, timeout_s: float | None) -> Incoming | None: ...
    def close(self) -> None: ...


class Transport(Protocol):
    """Factory of the three roles; ``curve`` and ``server_key(s)`` are ignored by
    transports that never leave the process."""

    name: str

    def bind(self, address: str, curve: Any = None, max_bytes: int | None = None) -> Inbox: ...
    def link(self, address: str, curve: Any = None, server_key: bytes | None = None) -> Link: ...
    def client(
        self, addresses: Sequence[str], curve: Any = None, server_keys: Sequence[bytes | None] = ()
    ) -> Client: ...


# -- in-process --------------------------------------------------------------------------

_inboxes: dict[str, queue.SimpleQueue[tuple[Any, Frames]]] = {}
_lock = threading.Lock()
_names = itertools.count()


def inproc_address(prefix: str = "unit") -> str:
    """A fresh address no other in-process inbox uses."""
    return f"inproc://{prefix}-{next(_names)}"


def _get(q: queue.SimpleQueue[Any], timeout_s: float | None) -> Any:
    try:
        return q.get(timeout=timeout_s) if timeout_s is None or timeout_s > 0 else q.get_nowait()
    except queue.Empty:
        return None


class InprocInbox:
    def __init__(self, address: str) -> None:
        with _lock:
            if address in _inboxes:
                raise ParawireError(f"{address!r} is already bound in this process; pick another name")
            self.queue: queue.SimpleQueue[tuple[Any, Frames]] = queue.SimpleQueue()
            _inboxes[address] = self.queue
        self.address = address

    def recv(self, timeout_s: float | None) -> tuple[Any, Frames] | None:
        return _get(self.queue, timeout_s)

    def reply(self, token: Any, frames: Frames) -> None:
        if token is not None:
            replies, index = token
            replies.put(Incoming(index, frames))

    def close(self) -> None:
        with _lock:
            _inboxes.pop(self.address, None)


class InprocLink:
    def __init__(self, address: str, token: Any = None) -> None:
        self.address = address
        self.token = token

    def send(self, frames: Frames) -> bool:
        """Deliver, or return False when no worker is bound there (any more)."""
        inbox = _inboxes.get(self.address)
        if inbox is None:
            return False
        inbox.put((self.token, frames))
        return True

    def close(self) -> None:
        pass


class InprocClient:
    def __init__(self, addresses: Sequence[str]) -> None:
        self.addresses = list(addresses)
        self.replies: queue.SimpleQueue[Incoming] = queue.SimpleQueue()
        self.links = [InprocLink(a, (self.replies, i)) for i, a in enumerate(self.addresses)]

    def send(self, index: int, frames: Frames) -> None:
        if not self.links[index].send(frames):
            self.replies.put(Incoming(index, event="is not bound (worker stopped)"))

    def recv(self, timeout_s: float | None) -> Incoming | None:
        return _get(self.replies, timeout_s)

    def close(self) -> None:
        pass


class InprocTransport:
    """Threads and queues in one process; same messages as over ZeroMQ."""

    name = "inproc"

    def bind(self, address: str, curve: Any = None, max_bytes: int | None = None) -> InprocInbox:
        return InprocInbox(address)

    def link(self, address: str, curve: Any = None, server_key: bytes | None = None) -> InprocLink:
        return InprocLink(address)

    def client(
        self, addresses: Sequence[str], curve: Any = None, server_keys: Sequence[bytes | None] = ()
    ) -> InprocClient:
        return InprocClient(addresses)


def transport_record(name: str, params: Any = None) -> tuple[Any, Any]:
    """The transport plugin called ``name`` and ``params`` (a mapping, or an instance of
    its model) validated by the plugin's own model: one line naming the field if not."""
    from parawire.registry.manager import get_plugins

    record = get_plugins().transports.get(name)
    return record, record.resolve(params)


def get_transport(name: str, params: Any = None) -> Transport:
    """A transport from the plugin called ``name`` (``zmq``, ``inproc`` or a third
    party's), built by its factory with validated ``params``."""
    record, validated = transport_record(name, params)
    return record.invoke(None, validated)
