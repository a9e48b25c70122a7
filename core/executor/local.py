"""Local workers on loopback: processes, or threads (``inproc``, or any transport in threads).

Any transport plugin works: one that declares ``in_process=True`` (``inproc``) gets
threads and in-process addresses; any other gets processes started as
``sys.executable -m parawire worker --bind … --transport NAME --transport-param …``,
with the parameters validated here first (by the plugin's model, so a bad one fails
before anything starts) and passed on to every worker. Processes report the
endpoint they bound on their first stdout line (so ``tcp://127.0.0.1:*`` picks a free
port without races). Teardown is reliable: terminate, then kill after a
grace period, and every worker also exits when its parent process disappears.

Worker processes get glibc allocator settings: with the default dynamic mmap threshold,
every activation of a few hundred KB is mmap'ed and unmapped again, page-faulting on
each use; measured on the target machine, a 56×56 block went from 2.0 to 1.1 ms with a
fixed high mmap threshold and trim threshold. The values can be overridden via ``env``.
"""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence

from parawire.errors import ParawireError
from parawire.executor.transport import get_transport, inproc_address, transport_record
from parawire.registry.kinds import builtin
from parawire.registry.params import format_params

ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(32 << 20),  # glibc's maximum: activations stay on the heap
    "MALLOC_TRIM_THRESHOLD_": str(256 << 20),  # and the heap is not given back between requests
}
READY_PREFIX = "parawire worker listening on "
ENDPOINT_KINDS = ("ipc", "tcp")


class LocalWorkers:
    """``n`` workers on this host; use as a context manager, read ``endpoints``."""

    def __init__(
        self,
        n: int,
        transport: str = builtin("zmq"),
        endpoint_kind: str = "ipc",
        *,
        threads: int = 1,
        in_threads: bool = False,
        builder: Callable | None = None,
        allow_models: Sequence[str] = (),
        env: dict[str, str] | None = None,
        startup_timeout: float = 60.0,
        transport_params: dict | None = None,
    ) -> None:
        if n < 1:
            raise ParawireError(f"units: got {n}; at least 1 worker is needed")
        if endpoint_kind not in ENDPOINT_KINDS:
            raise ParawireError(f"endpoint kind: got {endpoint_kind!r}; use one of {', '.join(ENDPOINT_KINDS)}")
        self.transport = transport
        self.allow_models = list(allow_models)  # model factories the workers may import
        self.record, self.params = transport_record(transport, transport_params)
        self.endpoints: list[str] = []
        self.processes: list[subprocess.Popen] = []
        self.workers: list = []
        self.threads: list[threading.Thread] = []
        self._dir = tempfile.mkdtemp(prefix="parawire-") if endpoint_kind == "ipc" else None
        binds = [
            f"ipc://{self._dir}/unit{i}" if endpoint_kind == "ipc" else "tcp://127.0.0.1:*" for i in range(n)
        ]
        try:
            if self.record.in_process or in_threads:
                self._start_threads(binds, builder)
            else:
                if builder is not None:
                    raise ParawireError("a custom builder needs in_threads=True (processes use parawire's network)")
                self._start_processes(binds, threads, env, startup_timeout)
        except BaseException:
            self.close()
            raise

    def _start_threads(self, binds: list[str], builder: Callable | None) -> None:
        from parawire.executor.worker import Worker, network_blocks

        if self.allow_models and builder is None:
            raise ParawireError("allow_models: workers in threads build imported models only with "
                                "builder=parawire.models.deploy.deployment_builder(allow_models)")
        for bind in binds:
            address = inproc_address() if self.record.in_process else bind
            worker = Worker(get_transport(self.transport, self.params), address,
                            builder=builder or network_blocks, threads=None, transport_label=self.record.label)
            self.workers.append(worker)
            self.threads.append(worker.start())
            self.endpoints.append(worker.address)

    def _start_processes(self, binds: list[str], threads: int, env: dict | None, timeout: float) -> None:
        """Start one ``parawire worker`` per bind, after building the transport once here:
        a factory that breaks its contract is then one line, not one per worker process
        followed by "worker process … exited before binding"."""
        probe = get_transport(self.transport, self.params)
        if callable(getattr(probe, "close", None)):
            probe.close()
        full_env = {**os.environ, **ALLOCATOR_ENV, **(env or {})}
        options = ["--transport", self.transport]
        for pair in format_params(self.params.model_dump(mode="json", exclude_unset=True)):
            options += ["--transport-param", pair]
        for bind in binds:
            cmd = [sys.executable, "-m", "parawire", "worker", "--bind", bind, *options,
                   "--threads", str(threads), "--exit-with-parent"]
            cmd += [arg for ref in self.allow_models for arg in ("--allow-model", ref)]
            self.processes.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=full_env))
        deadline = time.monotonic() + timeout
        for proc in self.processes:
            self.endpoints.append(_read_endpoint(proc, deadline))

    def kill(self, index: int) -> None:
        """Kill worker ``index`` at once (SIGKILL; fault tests)."""
        if self.processes:
            self.processes[index].kill()
            self.processes[index].wait()
        else:
            self.workers[index].stop()
            self.threads[index].join()

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        for thread in self.threads:
            thread.join(timeout=5)
        stop_processes(self.processes)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> LocalWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_endpoint(proc: subprocess.Popen, deadline: float) -> str:
    """The endpoint a freshly started worker prints once it is bound."""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                raise ParawireError(f"worker process {proc.pid} did not start in time")
            line = proc.stdout.readline()
            if not line:
                raise ParawireError(f"worker process {proc.pid} exited with status {proc.wait()} before binding")
            if line.startswith(READY_PREFIX):
                return line[len(READY_PREFIX):].strip()


def stop_processes(processes: list[subprocess.Popen], grace: float = 3.0) -> None:
    """Terminate worker processes, kill those still alive after ``grace`` seconds, reap all."""
    for proc in processes:
        if proc.poll() is None:
            proc.terminate()
    for proc in processes:
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
