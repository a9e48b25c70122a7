"""The ZeroMQ transport (tcp and ipc endpoints).

Socket layout: each worker binds one ROUTER (its inbox). The coordinator connects one
DEALER per worker; each worker connects one DEALER per peer it sends activations to. The
ROUTER's identity frame is the reply token, so a worker answers whoever asked.

Choices, with the measurements behind them (2-core machine, see docs/executor.md):

* Multipart sends with ``copy=False``: the tensor payload is handed to libzmq without a
  Python-side copy (pyzmq still copies frames under its 64 KiB threshold, where copying
  is cheaper than tracking the buffer).
* Blocking poll, no busy-polling and no CPU pinning: both made latency worse on 2 cores.
* Sends to peers never block (``NOBLOCK``): a dead peer must not freeze a worker; a
  dropped activation shows up at the coordinator as a timeout naming the unit.
* Both ends bound the *whole* multipart message (libzmq's ``MAXMSGSIZE`` is per frame):
  the worker's inbox and the coordinator's sockets alike (:func:`recv_bounded`). Every
  frame is charged :data:`FRAME_COST` bytes on top of its length, so empty frames count
  too; frames past the limit, or past the protocol's three, are received and thrown away
  one by one, so Python never holds more than three. What this cannot bound: libzmq
  delivers a multipart message only once all of its frames have arrived, and holds each
  frame meanwhile (64 bytes for an empty one, against 2 on the wire), so a message of
  millions of empty frames briefly costs libzmq 32× its wire size; no socket option
  limits the frames of one message (docs/executor.md, threat model).
* The coordinator watches each DEALER with a socket monitor, so a worker that dies mid-
  request is reported at once (``disconnected``) instead of after the full timeout, and a
  refused CURVE handshake is reported as such.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import zmq
from parawire.executor.protocol import DEFAULT_MAX_MESSAGE_BYTES, ProtocolError
from parawire.executor.security import Curve
from parawire.executor.transport import Frames, Incoming
from zmq.utils.monitor import recv_monitor_message

log = logging.getLogger("parawire.transport")

MAX_FRAMES = 3
"""Frames of the longest protocol message (header, JSON, weights), after the identity."""

FRAME_COST = 64
"""Bytes each received frame is charged on top of its length: libzmq's ``zmq_msg_t``."""

MAXMSGSIZE_SLACK = 4096
"""libzmq's per-frame ``MAXMSGSIZE`` sits this far above the whole-message limit (headers)."""

MONITORED = {
    zmq.EVENT_DISCONNECTED: "disconnected",
    zmq.EVENT_HANDSHAKE_FAILED_AUTH: "refused authentication",
    zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "failed the handshake (protocol)",
    zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "failed the handshake (are CURVE keys set on both sides?)",
}


def _client_socket(ctx: zmq.Context, curve: Curve | None, server_key: bytes | None) -> zmq.Socket:
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    if curve is not None:
        if server_key is None:
            raise ValueError("a CURVE client needs the server's public key")
        sock.curve_publickey = curve.public
        sock.curve_secretkey = curve.secret
        sock.curve_serverkey = server_key
    return sock


class ZmqInbox:
    """A worker's bound ROUTER (with its own context, so its ZAP handler is its own)."""

    def __init__(self, address: str, curve: Curve | None, max_bytes: int | None) -> None:
        self.ctx = zmq.Context()
        self.auth = None
        self.max_bytes = max_bytes
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.linger = 0
        if max_bytes is not None:
            # libzmq drops the connection of a peer that sends more; decode() checks again.
            self.sock.setsockopt(zmq.MAXMSGSIZE, max_bytes + MAXMSGSIZE_SLACK)
        if curve is not None:
            from zmq.auth.thread import ThreadAuthenticator

            self.auth = ThreadAuthenticator(self.ctx, log=logging.getLogger("parawire.auth"))
            self.auth.start()
            self.auth.configure_curve(domain="*", location=str(curve.authorized))
            self.sock.curve_server = True
            self.sock.curve_publickey = curve.public
            self.sock.curve_secretkey = curve.secret
        self.sock.bind(address)
        self.address = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.poller = zmq.Poller()
        self.poller.register(self.sock, zmq.POLLIN)

    def recv(self, timeout_s: float | None) -> tuple[Any, Frames] | None:
        ms = None if timeout_s is None else int(timeout_s * 1000)
        if not self.poller.poll(ms):
            return None
        token = self.sock.recv(copy=False)
        frames = recv_bounded(self.sock, token.more, self.max_bytes)
        if isinstance(frames, str):
            raise ProtocolError(frames)
        return token.bytes, frames

    def reply(self, token: Any, frames: Frames) -> None:
        if token is not None:
            self.sock.send_multipart([token, *frames], copy=False)

    def close(self) -> None:
        self.sock.close(linger=0)
        if self.auth is not None:
            self.auth.stop()
        self.ctx.term()


def recv_bounded(sock: zmq.Socket, more: bool, max_bytes: int | None) -> Frames | str:
    """The rest of a message whose first frame was read (``more``: it has others): its
    frames, or, once it passed :data:`MAX_FRAMES` or ``max_bytes`` (each frame charged
    :data:`FRAME_COST` more than its length), the rest drained and a one-line reason."""
    frames: Frames = []
    count = size = 0
    limit = max_bytes if max_bytes is not None else float("inf")
    while more:
        frame = sock.recv(copy=False)
        more = frame.more
        count += 1
        size += len(frame) + FRAME_COST
        if count <= MAX_FRAMES and size <= limit:
            frames.append(frame)
        elif frames:
            frames = []
    if count > MAX_FRAMES or size > limit:
        return (f"message of {count} frames and {size} bytes (counting {FRAME_COST} per frame); at most"
                f" {MAX_FRAMES} frames and {limit} bytes; discarded")
    return frames


class ZmqLink:
    """A worker's DEALER to one peer."""

    def __init__(self, ctx: zmq.Context, address: str, curve: Curve | None, server_key: bytes | None):
        self.address = address
        self.sock = _client_socket(ctx, curve, server_key)
        self.sock.connect(address)

    def send(self, frames: Frames) -> bool:
        try:
            self.sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
            return True
        except zmq.Again:
            log.warning("peer %s is not taking messages; activation dropped", self.address)
            return False

    def close(self) -> None:
        self.sock.close(linger=0)


class ZmqClient:
    """The coordinator's DEALERs, one per worker, with a monitor on each."""

    def __init__(self, addresses: Sequence[str], curve: Curve | None, server_keys: Sequence[bytes | None],
                 max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES):
        self.addresses = list(addresses)
        self.max_bytes = max_bytes
        self.ctx = zmq.Context()
        keys = list(server_keys) or [None] * len(self.addresses)
        self.socks = []
        self.monitors = []
        self.poller = zmq.Poller()
        for address, key in zip(self.addresses, keys):
            sock = _client_socket(self.ctx, curve, key)
            sock.setsockopt(zmq.MAXMSGSIZE, max_bytes + MAXMSGSIZE_SLACK)
            monitor = sock.get_monitor_socket(sum(MONITORED))
            sock.connect(address)
            self.socks.append(sock)
            self.monitors.append(monitor)
            self.poller.register(sock, zmq.POLLIN)
            self.poller.register(monitor, zmq.POLLIN)
        self.index = {s: i for i, s in enumerate(self.socks)}
        self.index.update({m: i for i, m in enumerate(self.monitors)})

    def send(self, index: int, frames: Frames) -> None:
        try:
            self.socks[index].send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            log.warning("worker %s is not taking messages; message dropped", self.addresses[index])

    def recv(self, timeout_s: float | None) -> Incoming | None:
        ms = None if timeout_s is None else max(0, int(timeout_s * 1000))
        ready = self.poller.poll(ms)
        for sock, _ in ready:  # replies first: a result that beat a disconnect still counts
            if sock in self.socks:
                first = sock.recv(copy=False)
                rest = recv_bounded(sock, first.more, self.max_bytes)
                if isinstance(rest, str):
                    return Incoming(self.index[sock], dropped=rest)
                return Incoming(self.index[sock], frames=[first, *rest])
        for sock, _ in ready:
            event = recv_monitor_message(sock)
            name = MONITORED.get(event["event"])
            if name is not None:
                return Incoming(self.index[sock], event=name)
        return None

    def close(self) -> None:
        for sock in self.socks:
            sock.disable_monitor()
        for sock in self.monitors + self.socks:
            sock.close(linger=0)
        self.ctx.term()


class ZmqTransport:
    """ZeroMQ over ``tcp://`` and ``ipc://`` endpoints."""

    name = "zmq"

    def __init__(self) -> None:
        self._ctx: zmq.Context | None = None

    def bind(self, address: str, curve: Curve | None = None, max_bytes: int | None = None) -> ZmqInbox:
        return ZmqInbox(address, curve, max_bytes)

    def link(self, address: str, curve: Curve | None = None, server_key: bytes | None = None) -> ZmqLink:
        if self._ctx is None:
            self._ctx = zmq.Context()
        return ZmqLink(self._ctx, address, curve, server_key)

    def client(
        self, addresses: Sequence[str], curve: Curve | None = None, server_keys: Sequence[bytes | None] = ()
    ) -> ZmqClient:
        return ZmqClient(addresses, curve, server_keys)

    def close(self) -> None:
        """Release the context of the peer links (after closing them)."""
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None
