"""The real network over ZeroMQ worker processes (ipc and tcp) and in-process threads."""

from __future__ import annotations

import pytest
import torch
from executor_real import GENERATORS, UNITS, case
from parawire.errors import ParawireError
from parawire.executor.coordinator import Cluster
from parawire.executor.local import LocalWorkers
from parawire.executor.security import check_bind, is_local

pytestmark = pytest.mark.slow

TRANSPORTS = [("zmq", "ipc"), ("zmq", "tcp"), ("inproc", "ipc")]


@pytest.fixture(scope="module", params=TRANSPORTS, ids=lambda t: f"{t[0]}-{t[1]}" if t[0] == "zmq" else t[0])
def cluster(request):
    transport, kind = request.param
    with LocalWorkers(4, transport=transport, endpoint_kind=kind) as workers:
        with Cluster.connect(workers.endpoints, transport=transport, timeout=10.0) as c:
            yield c


@pytest.mark.parametrize("generator", GENERATORS)
def test_distributed_logits_equal_single_process_and_bytes_equal_lambda(cluster, generator):
    for units in UNITS:
        spec, plan, x, reference = case(generator, units)
        cluster.deploy(spec, plan)
        out = cluster.infer(x)
        assert torch.allclose(out, reference, rtol=1e-5, atol=1e-6), (generator, units)
        assert cluster.stats().bytes_per_inference == plan.cut_bytes, (generator, units)


def test_requests_in_flight_over_sockets(cluster):
    spec, plan, x, reference = case("dp", 4)
    cluster.deploy(spec, plan)
    outs = cluster.infer_many([x, x * 2, x])
    assert torch.allclose(outs[0], reference, rtol=1e-5, atol=1e-6)
    assert torch.equal(outs[0], outs[2]) and not torch.equal(outs[0], outs[1])
    assert cluster.stats().peer_bytes == 3 * plan.cut_bytes


@pytest.mark.parametrize(
    "address, local",
    [("tcp://127.0.0.1:5701", True), ("tcp://localhost:1", True), ("tcp://[::1]:1", True),
     ("ipc:///tmp/x", True), ("tcp://0.0.0.0:5701", False), ("tcp://10.1.2.3:5701", False),
     ("tcp://eth0:5701", False)],
)
def test_only_loopback_binds_go_without_keys(address, local):
    assert is_local(address) is local
    if not local:
        with pytest.raises(ParawireError, match="not a loopback or ipc address; pass --curve-secret"):
            check_bind(address, None)


def test_shutdown_stops_the_deployed_worker_processes_only():
    spec, plan, x, reference = case("dp", 2)
    with LocalWorkers(2, transport="zmq", endpoint_kind="ipc") as workers:
        with Cluster.connect(workers.endpoints, transport="zmq", timeout=10.0) as c:
            c.shutdown()  # nothing deployed: no session, so nobody's to stop (issue 21, row 2)
            assert c.ping(timeout=5.0) == {0: True, 1: True}
            c.deploy(spec, plan)
            c.shutdown()
            codes = [proc.wait(timeout=10) for proc in workers.processes]
    assert codes == [0, 0]


def test_copy_below_reaches_every_socket_the_zmq_transport_opens():
    # frames under the threshold are copied into libzmq, larger ones lent (transport_zmq.COPY_BELOW)
    from parawire.executor.transport import get_transport
    from parawire.executor.transport_zmq import COPY_BELOW

    with pytest.raises(ValueError, match=r"copy_below: got 2147483648"):  # pyzmq holds it in a C int
        get_transport("zmq", {"copy_below": 2**31})
    tuned, default = get_transport("zmq", {"copy_below": 4096}), get_transport("zmq")
    inbox, plain = tuned.bind("tcp://127.0.0.1:*"), default.bind("tcp://127.0.0.1:*")
    link, client = tuned.link(inbox.address), tuned.client([inbox.address, plain.address])
    try:
        assert inbox.sock.copy_threshold == link.sock.copy_threshold == 4096
        assert [s.copy_threshold for s in client.socks] == [4096, 4096]
        assert plain.sock.copy_threshold == COPY_BELOW == 256 * 1024
    finally:
        for end in (link, client, inbox, plain):
            end.close()
        tuned.close()
