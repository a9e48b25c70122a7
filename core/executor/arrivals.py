"""What libzmq holds for messages still arriving, per TCP connection, and the cut that bounds it.

Why this exists: libzmq makes a multipart message visible only once its last frame has
arrived, and holds every frame meanwhile (a 64-byte ``zmq_msg_t`` each, against 2 bytes
on the wire for an empty frame). ``MAXMSGSIZE`` bounds one frame and ``RCVHWM`` counts
whole messages, so no socket option stops a message of millions of empty frames, or one
that never ends: before this guard a peer could make a worker hold 32× what it sent, for
as long as it kept sending. Nothing short of speaking ZMTP ourselves sees those frames;
but the kernel counts what each connection received (``TCP_INFO``), the socket monitor
names each connection's file descriptor, and every delivered frame says which descriptor
it came from (``ZMQ_SRCFD``). So a connection's *pending* bytes, received but not yet
delivered as whole messages, are known exactly (the wire size of each delivered frame
follows from its length and the security mechanism), and a connection is cut
(``shutdown`` of its descriptor, which libzmq sees as the peer leaving, freeing what it
held) when either rule holds:

* **size**: its pending bytes exceed the message limit: no legal message is that long;
* **memory**: it has something pending and the process's resident memory grew, since the
  connection was last quiet or last delivered a whole message, by more than twice its
  pending bytes + :data:`MEMORY_SLACK`.
  A frame that carries bytes costs libzmq about its size, so only a message of many tiny
  frames (or an attack on the allocator) can trip it. Growth the socket's owner declares
  its own (:meth:`ArrivalGuard.allocating`: a worker building a deployment, or warming
  up its first requests) is not counted; any other growth is, also while the owner is
  busy, since an attacker's frames arrive on libzmq's thread whatever the owner does.
  A delivered message starts the count again: frames are held only until their message
  is whole, so growth before it cannot be the next message's. An owner that streams
  requests to a busy worker never leaves its connection quiet, and counted from the
  stream's start, the worker's own growth (outgoing activations queued for a slow link,
  56 MiB for DP-40 at 224 px on two testbed devices) had it cut.

A whole message waiting for the owner to read it is pending to the kernel's count too, so
an owner reads the messages waiting before it checks (``ZmqInbox``).

The socket's other connections are untouched: an owner keeps being served while a
stranger is cut. Connections the kernel cannot count (``ipc://``, whose file permissions
are the access control) are not guarded. The check costs one ``getsockopt`` per
connection every :data:`CHECK_S` and reads the resident size only while a connection has
more than :data:`QUIET_BYTES` pending.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import struct
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import zmq

CHECK_S = 0.01
"""Seconds between checks (a socket's owner polls in slices no longer than this)."""

QUIET_BYTES = 1024
"""Pending bytes up to which a connection is quiet: the memory rule starts counting above.
Small, so frames spread over many connections cannot each stay under it: 1 KiB of empty
frames is 32 KiB inside libzmq, so a thousand quiet connections hold at most 32 MiB."""

MEMORY_SLACK = 48 * 2**20
"""Resident growth a connection's pending message may cause beyond twice its bytes."""

HANDSHAKE_BYTES = 4096
"""Bytes a connection may receive that are never delivered: the ZMTP greeting and handshake."""

EVENTS = zmq.EVENT_ACCEPTED | zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CLOSED
"""The monitor events that say a connection's descriptor came or went."""

_TCP_LISTEN = 10
_BYTES_RECEIVED = struct.Struct("Q")
_BYTES_RECEIVED_OFFSET = 128  # struct tcp_info.tcpi_bytes_received (Linux ≥ 4.1)
_PAGE = os.sysconf("SC_PAGE_SIZE")


def wire_bytes(length: int, curve: bool) -> int:
    """Bytes a frame of ``length`` bytes took on the wire (ZMTP 3: flags, 1- or 8-byte
    size; under CURVE each frame is a ``MESSAGE`` command: name, nonce, MAC and flags)."""
    body = length + 33 if curve else length
    return body + (2 if body < 256 else 9)


def resident_bytes() -> int:
    """The process's resident bytes, from ``/proc/self`` (a ``psutil.Process`` would
    keep the pid of whichever process built it, and costs more per read)."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


def _malloc_trim():
    """glibc's ``malloc_trim``, which gives a cut connection's freed frames back to the
    kernel at once (else later checks would still count them resident); None elsewhere."""
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None


_trim = _malloc_trim()


@contextmanager
def _borrowed(fd: int):
    """libzmq's socket ``fd`` as a Python socket on a duplicate descriptor (closed on
    exit; libzmq's own stays open), or None if the descriptor is gone. The callers treat
    a socket error as the connection being gone too."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        yield None
        return
    try:
        yield sock
    finally:
        sock.close()


def _received(fd: int, peer: tuple) -> int | None:
    """The kernel's count of bytes received on ``fd``, if it is still the TCP connection to ``peer``."""
    with _borrowed(fd) as sock, suppress(OSError):
        if sock is None or sock.getpeername() != peer:
            return None
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
        if info[0] != _TCP_LISTEN and len(info) >= _BYTES_RECEIVED_OFFSET + 8:
            return _BYTES_RECEIVED.unpack_from(info, _BYTES_RECEIVED_OFFSET)[0]
    return None


def _peer(fd: int) -> tuple | None:
    """The address at the other end of TCP socket ``fd`` (None for any other kind)."""
    with _borrowed(fd) as sock, suppress(OSError):
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            return sock.getpeername()
    return None


def _cut(fd: int) -> None:
    """End the connection on ``fd``. ``shutdown`` makes libzmq read an end and close it,
    and the zero linger makes that close a reset (no orphaned socket; a sender blocked on
    a full window learns at once). But Linux keeps the bytes already queued for reading
    after ``shutdown``, and libzmq would still decode them, 32× their size for empty
    frames (measured: 300 connections cut at 53 MiB went on to +538 MiB), so the queue is
    read away here first."""
    with _borrowed(fd) as sock, suppress(OSError):
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
            while sock.recv(1 << 20, socket.MSG_DONTWAIT):
                pass


@dataclass
class _Connection:
    peer: tuple
    delivered: int = 0  # wire bytes of the frames delivered from it (handshake allowance included)
    quiet_rss: int | None = None  # resident bytes when it was last quiet or last delivered a message
    forgiven: int = 0  # growth since then that the socket's owner declared its own

    def restart(self) -> None:
        """Count its memory growth afresh (it is quiet, or just delivered a message)."""
        self.quiet_rss, self.forgiven = None, 0


class ArrivalGuard:
    """Track one socket's TCP connections (the owner feeds it the socket monitor's
    :data:`EVENTS` and every delivered message) and cut those whose pending bytes break
    a rule. ``max_bytes``: the whole-message limit (None: only the memory rule);
    ``curve``: the mechanism, for the wire size of delivered frames."""

    def __init__(self, max_bytes: int | None, curve: bool):
        self.max_bytes = max_bytes
        self.curve = curve
        self.connections: dict[int, _Connection] = {}
        self.next_check = 0.0
        self.allocating_since: int | None = None  # resident bytes when the owner started allocating
        self.own = 0  # the owner's declared growth, not yet told to the connections
        self.trim = False  # a cut's frames are freed by libzmq's thread after the cut: trim next time

    # -- what the socket's owner reports -----------------------------------------------
    def event(self, event: dict) -> None:
        """A monitor event: a connection's descriptor came or went."""
        fd = event["value"]
        if event["event"] in (zmq.EVENT_ACCEPTED, zmq.EVENT_CONNECTED):
            peer = _peer(fd)
            if peer is not None:
                self.connections[fd] = _Connection(peer, delivered=HANDSHAKE_BYTES)
        else:
            self.connections.pop(fd, None)

    def wire_bytes(self, length: int) -> int:
        """What a delivered frame of ``length`` bytes took on the wire, under this socket's mechanism."""
        return wire_bytes(length, self.curve)

    def delivered(self, frame: zmq.Frame, wire: int) -> None:
        """A whole message arrived: ``frame`` (one of its data frames, which names the
        descriptor) and ``wire``, the sum of :meth:`wire_bytes` over its frames."""
        conn = self.connections.get(frame.get(zmq.SRCFD)) if self.connections else None
        if conn is not None:
            conn.delivered += wire
            conn.restart()  # what it holds now is its next message's

    def allocating(self) -> None:
        """The socket's owner starts work that allocates (a deployment, a warm-up): the
        resident growth until the next :meth:`check` is its own, not a pending message's."""
        if self.allocating_since is None and any(c.quiet_rss is not None for c in self.connections.values()):
            self.allocating_since = resident_bytes()

    # -- the check ---------------------------------------------------------------------
    def check(self) -> list[str]:
        """Cut the connections that break a rule (at most every :data:`CHECK_S`); one
        line per cut, naming the peer and the rule."""
        rss = None
        if self.allocating_since is not None:
            rss = resident_bytes()
            self.own += max(0, rss - self.allocating_since)
            self.allocating_since = None
        now = time.monotonic()
        if now < self.next_check:
            return []
        self.next_check = now + CHECK_S
        if self.trim and _trim is not None:
            _trim(0)
            rss = None
        self.trim = False
        for conn in self.connections.values():
            if conn.quiet_rss is not None:
                conn.forgiven += self.own
        self.own = 0
        cuts = []
        for fd, conn in list(self.connections.items()):
            received = _received(fd, conn.peer)
            if received is None:
                continue
            conn.delivered = min(conn.delivered, received)  # never pending less than nothing
            pending = received - conn.delivered
            if pending <= QUIET_BYTES:
                conn.restart()
                continue
            rss = resident_bytes() if rss is None else rss
            if conn.quiet_rss is None:
                conn.quiet_rss = rss
            grown = rss - conn.quiet_rss - conn.forgiven
            reason = None
            if self.max_bytes is not None and pending > self.max_bytes + HANDSHAKE_BYTES:
                reason = f"{pending} bytes of a message still arriving, over the {self.max_bytes}-byte limit"
            elif grown > 2 * pending + MEMORY_SLACK:
                reason = (f"{pending} bytes of a message still arriving held {grown >> 20} MiB"
                          f" (frames of a few bytes each)")
            if reason is not None:
                _cut(fd)
                del self.connections[fd]
                cuts.append(f"connection from {conn.peer[0]}:{conn.peer[1]} cut: {reason}")
        self.trim = bool(cuts)
        return cuts
