"""pytest fixtures for latency suites (exposed by the ``parawire.testing`` pytest plugin).

* ``parawire_cluster``: ``parawire_cluster(spec, units=2, transport=None,
  endpoint_kind="ipc", engine=None, partitioner=None, **options)`` (``None``: parawire's
  ``zmq``, its default engine, ``multilevel``) starts local
  workers, partitions and deploys ``spec`` and returns a
  :class:`~parawire.testing.suite.LocalCluster` (``infer``, ``plan``, ``predicted_ms``,
  ``reference``); ``options`` are :func:`~parawire.testing.suite.deploy_local`'s
  (``codec="int8"``, ``codec_params={...}``: how crossings travel).
* ``parawire_single``: ``parawire_single(spec, threads=1, engine=None)``, the same
  network in this process (:class:`~parawire.testing.suite.SingleProcess`), the
  baseline row.
* ``parawire_testbed``: ``parawire_testbed(spec, units=2, preset="t2.micro", ...)``, the
  same as ``parawire_cluster`` on emulated devices (:mod:`parawire.testbed`); skipped
  with the reason where the machine cannot host a testbed.

Both are factories, so one test may start several targets. Whatever the test does
(fails, raises after deployment, kills a worker), everything it started is closed when
it ends: worker processes stopped (terminate, then kill), ipc socket directories removed,
torch's thread count restored. A typical suite::

    from parawire.testing.suite import measure

    def test_mine_2_units(benchmark, parawire_cluster):
        measure(benchmark, parawire_cluster("mine.json", units=2))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from parawire.testing.suite import LocalCluster, SingleProcess, deploy_local, deploy_testbed


@pytest.fixture
def parawire_cluster() -> Iterator[Callable[..., LocalCluster]]:
    with ExitStack() as stack:

        def start(spec, units=2, transport=None, endpoint_kind="ipc", engine=None,
                  partitioner=None, **options) -> LocalCluster:
            return stack.enter_context(
                deploy_local(spec, units, transport, endpoint_kind, engine, partitioner, **options)
            )

        yield start


@pytest.fixture
def parawire_testbed() -> Iterator[Callable[..., LocalCluster]]:
    """``parawire_testbed(spec, units=2, preset="t2.micro", engine=None, ...)`` on emulated
    devices; the test is skipped, with what the machine lacks, where it cannot host one."""
    from parawire.testbed.system import missing

    lacks = missing()
    if lacks:
        pytest.skip("testbed: needs " + "; ".join(lacks))
    with ExitStack() as stack:

        def start(spec, units=2, preset="t2.micro", engine=None, partitioner=None, **options):
            return stack.enter_context(deploy_testbed(spec, units, preset, engine, partitioner, **options))

        yield start


@pytest.fixture
def parawire_single() -> Iterator[Callable[..., SingleProcess]]:
    with ExitStack() as stack:

        def start(spec, threads=1, engine=None, **options) -> SingleProcess:
            return stack.enter_context(SingleProcess(spec, threads, engine, **options))

        yield start
