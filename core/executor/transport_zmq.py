"""The ZeroMQ transport (tcp and ipc endpoints).

Socket layout: each worker binds one ROUTER (its inbox). The coordinator connects one
DEALER per worker; each worker connects one DEALER per peer it sends activations to. The
ROUTER's identity frame is the reply token, so a worker answers whoever asked.

Choices, with the measurements behind them (2-core machine, see docs/executor.md):

* Multipart sends with ``copy=False``: a tensor payload of :data:`COPY_BELOW` bytes or
  more is lent to libzmq without a copy; smaller frames are copied (pyzmq's
  ``copy_threshold``), where copying is cheaper than getting the buffer back.
* Blocking poll, no busy-polling and no CPU pinning: both made latency worse on 2 cores.
* Sends to peers never block (``NOBLOCK``): a dead peer must not freeze a worker; a
  dropped activation shows up at the coordinator as a timeout naming the unit.
* Both ends bound the *whole* multipart message (libzmq's ``MAXMSGSIZE`` is per frame):
  the worker's inbox and the coordinator's sockets alike (:class:`MessageReader`). Every
  frame is charged :data:`FRAME_COST` bytes on top of its length, so empty frames count
  too; frames past the limit, or past the protocol's three, are received and thrown away
  one by one, so Python never holds more than three, and at most ``DRAIN_FRAMES`` per
  call, so a message of millions of frames delays no deadline. libzmq delivers a multipart message
  only once all of its frames have arrived, and holds each frame meanwhile (64 bytes for
  an empty one, against 2 on the wire); no socket option limits that, so both ends watch
  their TCP connections with an :class:`~parawire.executor.arrivals.ArrivalGuard`, which
  cuts a connection whose message still arriving is over the limit or costs far more
  memory than its bytes. Polls therefore run in slices of ``arrivals.CHECK_S``.
* The coordinator watches each DEALER with a socket monitor, so a worker that dies mid-
  request is reported at once (``disconnected``) instead of after the full timeout, and a
  refused CURVE handshake is reported as such.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import zmq
from parawire.executor.arrivals import CHECK_S, EVENTS, ArrivalGuard
from parawire.executor.security import Curve
from parawire.executor.transport import DEFAULT_MAX_MESSAGE_BYTES, Frames, Incoming, ProtocolError
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


COPY_BELOW = 256 * 1024
"""Frames smaller than this are copied into libzmq rather than lent (pyzmq's
``copy_threshold``; its default is 64 KiB). A lent frame comes back through pyzmq's
garbage-collector thread, a Python thread that wakes and takes the GIL once per frame,
on the same core as the worker's computing thread. Measured on 2 local workers running a
32-px FB-40 split in two (five 64–128 KB activations per inference, tcp, three
interleaved pairs of 400 inferences): the workers' CPU outside their tasks was 2.24–2.38
ms per inference with the frames lent and 1.98–2.07 copied. At 96 px (0.6–2.4 MB
frames) copying them all cost more (7.6–7.9 against 8.0–8.9 ms), so large frames are
still lent. The zmq transport's ``copy_below`` parameter overrides it."""


def _client_socket(ctx: zmq.Context, curve: Curve | None, server_key: bytes | None,
                   copy_below: int = COPY_BELOW) -> zmq.Socket:
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.copy_threshold = copy_below
    if curve is not None:
        if server_key is None:
            raise ValueError("a CURVE client needs the server's public key")
        sock.curve_publickey = curve.public
        sock.curve_secretkey = curve.secret
        sock.curve_serverkey = server_key
    return sock


class ZmqInbox:
    """A worker's bound ROUTER (with its own context, so its ZAP handler is its own)."""

    def __init__(self, address: str, curve: Curve | None, max_bytes: int | None,
                 copy_below: int = COPY_BELOW) -> None:
        self.ctx = zmq.Context()
        self.auth = None
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.linger = 0
        self.sock.copy_threshold = copy_below
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
        self.guard = ArrivalGuard(max_bytes, curve is not None)
        self.reader = MessageReader(self.sock, max_bytes, self.guard, identity=True)
        self.waiting: deque[tuple[bytes | None, Frames | str]] = deque()  # read ahead of a check
        self.monitor = self.sock.get_monitor_socket(EVENTS)
        self.poller = zmq.Poller()
        self.poller.register(self.sock, zmq.POLLIN)
        self.poller.register(self.monitor, zmq.POLLIN)

    def recv(self, timeout_s: float | None) -> tuple[Any, Frames] | None:
        """The next message (identity, frames), or None at the deadline; a
        :class:`ProtocolError` for a message discarded or a connection cut."""
        if not self.waiting:
            for ready in _poll_slices(self.poller, timeout_s):
                if self.monitor in ready:
                    _drain_events(self.monitor, self.guard)
                if self.sock in ready:
                    self._read_ahead()
                cuts = self.guard.check()
                if cuts:
                    raise ProtocolError("; ".join(cuts))
                if self.waiting:
                    break
            else:
                return None
        token, frames = self.waiting.popleft()
        if isinstance(frames, str):
            raise ProtocolError(frames)
        return token, frames

    def _read_ahead(self) -> None:
        """Read the whole messages waiting (at most :data:`READ_AHEAD`) before the guard's
        check: the kernel counts one waiting as received and not delivered, so a check
        before the reads cut an owner whose burst of whole messages, each under the limit,
        added up to more than it. Memory is unchanged (libzmq held those frames); the
        bound keeps a flood of whole messages from putting the check off."""
        while len(self.waiting) < READ_AHEAD and self.sock.get(zmq.EVENTS) & zmq.POLLIN:
            message = self.reader.read()
            if message is None:  # a message of more frames than one read takes: check meanwhile
                return
            self.waiting.append(message)

    def reply(self, token: Any, frames: Frames) -> None:
        if token is not None:
            self.sock.send_multipart([token, *frames], copy=False)

    def allocating(self) -> None:
        """The worker starts work that allocates (see :meth:`ArrivalGuard.allocating`)."""
        self.guard.allocating()

    def close(self) -> None:
        self.sock.disable_monitor()
        self.monitor.close(linger=0)
        self.sock.close(linger=0)
        if self.auth is not None:
            self.auth.stop()
        self.ctx.term()


def _poll_slices(poller: zmq.Poller, timeout_s: float | None):
    """Poll until ``timeout_s`` (None: for ever) in slices of at most ``CHECK_S``: each
    slice's ready sockets (a dict, often empty), so the caller's guard checks run even
    while nothing whole arrives."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        left = CHECK_S if deadline is None else min(CHECK_S, deadline - time.monotonic())
        yield dict(poller.poll(max(0, int(left * 1000))))
        if deadline is not None and time.monotonic() >= deadline:
            return


def _drain_events(monitor: zmq.Socket, guard: ArrivalGuard) -> list[dict]:
    """Every event waiting on ``monitor``, each told to ``guard`` first."""
    events = []
    while monitor.poll(0):
        event = recv_monitor_message(monitor)
        guard.event(event)
        events.append(event)
    return events


READ_AHEAD = 256
"""Whole messages an inbox reads at most before each check of its arrival guard."""


DRAIN_FRAMES = 16384
"""Frames one call reads of a message at most (≈ 40 ms in pyzmq): a message of millions
of frames is read over many calls, so deadlines and the guard's checks run meanwhile."""


class MessageReader:
    """Reads one socket's messages frame by frame, bounded (:data:`MAX_FRAMES`, and
    ``max_bytes`` with each frame charged :data:`FRAME_COST` more than its length: empty
    frames count), at most :data:`DRAIN_FRAMES` frames per call. ``identity``: the socket
    puts a routing frame first (a ROUTER). The guard learns what each message took on
    the wire, and from which connection."""

    def __init__(self, sock: zmq.Socket, max_bytes: int | None, guard: ArrivalGuard, identity: bool):
        self.sock, self.guard, self.identity = sock, guard, identity
        self.limit = max_bytes if max_bytes is not None else float("inf")
        self._start()

    def _start(self) -> None:
        self.token: bytes | None = None
        self.frames: Frames = []
        self.source: zmq.Frame | None = None  # the message's first data frame: set while one is partly read
        self.count = self.size = self.wire = 0

    def read(self) -> tuple[bytes | None, Frames | str] | None:
        """(identity or None, the frames or a one-line reason it was discarded), or None
        while the message is not whole yet (call again when the socket is readable)."""
        if self.source is None and self.identity:
            self.token = self.sock.recv()
        for _ in range(DRAIN_FRAMES):
            frame = self.sock.recv(copy=False)
            self.source = frame if self.source is None else self.source
            self.count += 1
            self.size += len(frame) + FRAME_COST
            self.wire += self.guard.wire_bytes(len(frame))
            if self.count <= MAX_FRAMES and self.size <= self.limit:
                self.frames.append(frame)
            elif self.frames:
                self.frames = []
            if not frame.more:
                break
        else:
            return None
        self.guard.delivered(self.source, self.wire)
        token, frames, count, size = self.token, self.frames, self.count, self.size
        self._start()
        if count > MAX_FRAMES or size > self.limit:
            return token, (f"message of {count} frames and {size} bytes (counting {FRAME_COST} per frame);"
                           f" at most {MAX_FRAMES} frames and {self.limit} bytes; discarded")
        return token, frames


class ZmqLink:
    """A worker's DEALER to one peer."""

    def __init__(self, ctx: zmq.Context, address: str, curve: Curve | None, server_key: bytes | None,
                 copy_below: int = COPY_BELOW):
        self.address = address
        self.sock = _client_socket(ctx, curve, server_key, copy_below)
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
                 max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, copy_below: int = COPY_BELOW):
        self.addresses = list(addresses)
        self.ctx = zmq.Context()
        keys = list(server_keys) or [None] * len(self.addresses)
        self.socks = []
        self.monitors = []
        self.readers = []  # each with its socket's guard
        self.events: deque[Incoming] = deque()  # named events and cuts not yet returned
        self.poller = zmq.Poller()
        for address, key in zip(self.addresses, keys):
            sock = _client_socket(self.ctx, curve, key, copy_below)
            sock.setsockopt(zmq.MAXMSGSIZE, max_bytes + MAXMSGSIZE_SLACK)
            monitor = sock.get_monitor_socket(sum(MONITORED) | EVENTS)
            sock.connect(address)
            self.socks.append(sock)
            self.monitors.append(monitor)
            self.readers.append(MessageReader(sock, max_bytes, ArrivalGuard(max_bytes, curve is not None),
                                              identity=False))
            self.poller.register(sock, zmq.POLLIN)
            self.poller.register(monitor, zmq.POLLIN)

    def send(self, index: int, frames: Frames) -> None:
        try:
            self.socks[index].send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            log.warning("worker %s is not taking messages; message dropped", self.addresses[index])

    def recv(self, timeout_s: float | None) -> Incoming | None:
        if self.events:
            return self.events.popleft()
        for ready in _poll_slices(self.poller, timeout_s):
            for i, reader in enumerate(self.readers):  # replies first: a result that beat a disconnect still counts
                message = reader.read() if reader.sock in ready else None
                if message is not None:
                    _, frames = message
                    return Incoming(i, dropped=frames) if isinstance(frames, str) else Incoming(i, frames=frames)
            for i, (monitor, reader) in enumerate(zip(self.monitors, self.readers)):
                if monitor in ready:
                    self.events.extend(Incoming(i, event=MONITORED[e["event"]])
                                       for e in _drain_events(monitor, reader.guard) if e["event"] in MONITORED)
                self.events.extend(Incoming(i, dropped=cut) for cut in reader.guard.check())
            if self.events:
                return self.events.popleft()
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

    def __init__(self, copy_below: int = COPY_BELOW) -> None:
        self._ctx: zmq.Context | None = None
        self.copy_below = copy_below  # frames smaller than this are copied, larger ones lent

    def bind(self, address: str, curve: Curve | None = None, max_bytes: int | None = None) -> ZmqInbox:
        return ZmqInbox(address, curve, max_bytes, self.copy_below)

    def link(self, address: str, curve: Curve | None = None, server_key: bytes | None = None) -> ZmqLink:
        if self._ctx is None:
            self._ctx = zmq.Context()
        return ZmqLink(self._ctx, address, curve, server_key, self.copy_below)

    def client(
        self, addresses: Sequence[str], curve: Curve | None = None, server_keys: Sequence[bytes | None] = ()
    ) -> ZmqClient:
        return ZmqClient(addresses, curve, server_keys, copy_below=self.copy_below)

    def close(self) -> None:
        """Release the context of the peer links (after closing them)."""
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None
