"""A stranger speaking raw ZMTP, for the attacks no ZeroMQ socket would make."""

from __future__ import annotations

import socket


class ZmtpStream:
    """A stranger speaking raw ZMTP 3.1 (NULL mechanism) over TCP: the greeting, a
    DEALER's READY, then whatever bytes it likes, e.g. empty frames of one message
    that never ends (which no ZeroMQ socket would send)."""

    def __init__(self, endpoint: str):
        host, port = endpoint[len("tcp://"):].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))
        self.sock.sendall(b"\xff" + bytes(7) + b"\x01\x7f\x03\x01" + b"NULL".ljust(20, b"\0") + bytes(32))
        self.sock.recv(64)
        ready = b"\x05READY\x0bSocket-Type" + (6).to_bytes(4, "big") + b"DEALER"
        self.sock.sendall(b"\x04" + bytes([len(ready)]) + ready)
        self.sock.recv(256)

    def empty_frames(self, count: int) -> int:
        """Send ``count`` empty frames flagged MORE; how many went before the worker cut the connection."""
        return self.frames(count, 0)

    def frames(self, count: int, size: int) -> int:
        """Send ``count`` frames of ``size`` zero bytes flagged MORE (a message that never
        ends); how many went before the worker cut the connection."""
        frame = (b"\x01" + bytes([size]) if size < 256 else b"\x03" + size.to_bytes(8, "big")) + bytes(size)
        batch = max(1, 131072 // len(frame))
        sent = 0
        try:
            while sent < count:
                n = min(batch, count - sent)
                self.sock.sendall(frame * n)
                sent += n
        except OSError:
            pass
        return sent

    def close(self) -> None:
        self.sock.close()
