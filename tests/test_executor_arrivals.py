"""The arrival guard's bookkeeping: a connection's pending bytes are exact, so an owner's
connection never drifts towards a cut however long it lives (issue 21, row 6)."""

from __future__ import annotations

import threading
import time

import pytest
import zmq
from parawire.executor.arrivals import EVENTS, HANDSHAKE_BYTES, ArrivalGuard, _received, wire_bytes
from parawire.errors import ParawireError
from parawire.executor.transport_zmq import ZmqInbox
from zmq.utils.monitor import recv_monitor_message
from zmtp import ZmtpStream

SIZES = [0, 1, 200, 222, 223, 255, 256, 300, 70_000]


def test_a_frames_wire_size_follows_zmtp_for_both_mechanisms():
    assert [wire_bytes(n, curve=False) for n in (0, 255, 256, 70_000)] == [2, 257, 265, 70_009]
    # CURVE: a MESSAGE command of 33 + n bytes (name 8, nonce 8, MAC 16, flags 1)
    assert [wire_bytes(n, curve=True) for n in (0, 222, 223)] == [35, 257, 265]


def connected(router: zmq.Socket, dealer: zmq.Socket, guard: ArrivalGuard, monitor: zmq.Socket) -> None:
    """One message through, then the monitor's events told to ``guard``: it knows the connection."""
    dealer.send(b"hello")
    router.recv_multipart()
    deadline = time.monotonic() + 5
    while not guard.connections:
        assert time.monotonic() < deadline, "the guard never saw the connection"
        if monitor.poll(100):
            guard.event(recv_monitor_message(monitor))


def pending_after(router: zmq.Socket, dealer: zmq.Socket, guard: ArrivalGuard, batches: int) -> int:
    """Send ``batches`` rounds of every size as 1-, 2- and 3-frame messages, deliver them
    all to ``guard`` as the inbox does, and return received − delivered for the one connection."""
    for _ in range(batches):
        for size in SIZES:
            for frames in (1, 2, 3):
                dealer.send_multipart([bytes(size)] * frames)
                parts = router.recv_multipart(copy=False)[1:]
                guard.delivered(parts[0], sum(guard.wire_bytes(len(p)) for p in parts))
    (fd, conn), = guard.connections.items()
    return _received(fd, conn.peer) - conn.delivered


@pytest.mark.parametrize("curve", [False, True], ids=["null", "curve"])
def test_pending_bytes_do_not_drift_over_many_messages(curve):
    ctx = zmq.Context()
    router, dealer = ctx.socket(zmq.ROUTER), ctx.socket(zmq.DEALER)
    try:
        monitor = router.get_monitor_socket(EVENTS)
        if curve:
            (server_public, server_secret), (client_public, client_secret) = zmq.curve_keypair(), zmq.curve_keypair()
            router.curve_server = True
            router.curve_publickey, router.curve_secretkey = server_public, server_secret
            dealer.curve_publickey, dealer.curve_secretkey = client_public, client_secret
            dealer.curve_serverkey = server_public
        port = router.bind_to_random_port("tcp://127.0.0.1")
        dealer.connect(f"tcp://127.0.0.1:{port}")
        guard = ArrivalGuard(max_bytes=None, curve=curve)
        connected(router, dealer, guard, monitor)
        first = pending_after(router, dealer, guard, 1)
        later = pending_after(router, dealer, guard, 20)
    finally:
        router.disable_monitor()
        monitor.close(linger=0)
        router.close(linger=0)
        dealer.close(linger=0)
        ctx.term()
    assert -HANDSHAKE_BYTES < first <= 0  # the handshake, under its allowance
    assert later == first  # 540 more messages, not a byte of drift


@pytest.fixture
def inbox_and_dealer():
    """A worker's inbox with a 1 MiB message limit and a DEALER connected to it."""
    inbox = ZmqInbox("tcp://127.0.0.1:*", None, max_bytes=1 << 20)
    ctx = zmq.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(inbox.address)
    yield inbox, dealer
    dealer.close(linger=0)
    ctx.term()
    inbox.close()


def test_an_inbox_serves_a_connection_that_sent_far_more_than_the_limit_in_whole_messages(inbox_and_dealer):
    """A long-lived owner sends 40× the message limit in whole messages: never cut."""
    inbox, dealer = inbox_and_dealer
    for _ in range(40):
        dealer.send_multipart([bytes(100), bytes(1 << 19)])
        token, frames = inbox.recv(5.0)
        assert [len(f) for f in frames] == [100, 1 << 19]
        time.sleep(0.012)  # a guard check between messages


def test_an_owner_streaming_to_a_busy_worker_that_grows_is_not_cut(inbox_and_dealer, monkeypatch):
    """Requests queued ahead keep the owner's connection pending for good, while the worker
    grows its own memory with each one (outgoing maps queued for a slow link): growth is
    counted from the connection's last whole message, not from the stream's start."""
    import parawire.executor.arrivals as arrivals

    inbox, dealer = inbox_and_dealer
    resident = [1 << 30]
    monkeypatch.setattr(arrivals, "resident_bytes", lambda: resident[0])
    for _ in range(12):
        dealer.send_multipart([bytes(100), bytes(1 << 16)])  # queued: more than 1 KiB always pending
    time.sleep(0.1)
    for i in range(12):
        got = inbox.recv(5.0)
        assert got is not None, f"cut after {i} messages"
        resident[0] += 30 << 20  # each request grows the worker by 30 MiB: 360 MiB in all
        time.sleep(0.025)  # guard checks before the next one is read
    assert inbox.guard.connections


def test_a_connection_past_the_limit_is_cut_and_the_reason_names_the_peer_and_the_limit(inbox_and_dealer):
    inbox, dealer = inbox_and_dealer
    # a message that never ends, in frames of 2 KiB: libzmq holds about their bytes, so
    # only the size rule can cut it (empty frames trip the memory rule first when the
    # check comes late, on a loaded machine)
    stranger = ZmtpStream(inbox.address)
    try:
        threading.Thread(target=stranger.frames, args=(2000, 2048), daemon=True).start()
        with pytest.raises(ParawireError, match=r"connection from 127\.0\.0\.1:\d+ cut: \d+ bytes of a message"
                                            r" still arriving, over the 1048576-byte limit"):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                assert inbox.recv(0.1) is None
        assert stranger.sock.getsockname() not in [c.peer for c in inbox.guard.connections.values()]
    finally:
        stranger.close()


def test_an_inbox_without_connections_reads_no_memory(monkeypatch):
    """Idle, the guard's slices cost a poll each: no resident-size read without a pending connection."""
    import parawire.executor.arrivals as arrivals

    reads = []
    monkeypatch.setattr(arrivals, "resident_bytes", lambda: reads.append(1) or 0)
    inbox = ZmqInbox("tcp://127.0.0.1:*", None, max_bytes=None)
    try:
        assert inbox.recv(0.1) is None
    finally:
        inbox.close()
    assert reads == []



def test_a_burst_of_whole_messages_over_the_limit_is_read_not_cut(inbox_and_dealer):
    """Four whole messages of 600 KB arrive before the worker reads any (it was busy):
    2.4 MB received and not delivered, over the 1 MiB limit, but none of it still arriving.
    A check before the reads cut the owner."""
    inbox, dealer = inbox_and_dealer
    for _ in range(4):
        dealer.send_multipart([bytes(100), bytes(600_000)])
    time.sleep(0.2)  # all received; every read below comes after a due check
    for i in range(4):
        got = inbox.recv(5.0)
        assert got is not None and [len(f) for f in got[1]] == [100, 600_000], f"message {i}"
        time.sleep(0.015)
    assert inbox.guard.connections


def test_a_flood_of_whole_messages_does_not_put_off_a_cut(inbox_and_dealer):
    """Reading whole messages first must not let a flood of them starve the check while a
    second connection's message grows past the limit: the cut comes within
    READ_AHEAD reads."""
    from parawire.executor.transport_zmq import READ_AHEAD

    inbox, flood = inbox_and_dealer
    for _ in range(3 * READ_AHEAD):
        flood.send(b"x")
    time.sleep(0.2)
    grower = ZmtpStream(inbox.address)
    try:
        assert grower.frames(2000, 2048) == 2000  # 4 MB of a message that never ends
        time.sleep(0.5)
        reads = 0
        with pytest.raises(ParawireError, match="cut: .* over the 1048576-byte limit"):
            while reads <= 3 * READ_AHEAD:
                assert inbox.recv(1.0) is not None
                reads += 1
        assert reads <= READ_AHEAD
    finally:
        grower.close()
