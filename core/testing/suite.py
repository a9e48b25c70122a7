"""Latency suites: one spec deployed on local workers or run in one process, and the
benchmark conventions that put both in the same pytest-benchmark table.

A user tracking the single-inference latency of their architectures across commits needs
the same few steps every time (spec → architecture → partition → plan → workers →
deploy → check against one process → measure → clean up). They live here once, behind
two targets with the same face (``spec``, ``infer(x)``, ``example_input()``,
``predicted_ms``, ``info()``):

* :class:`LocalCluster` (:func:`deploy_local`) — the spec partitioned over ``units``
  local workers (processes over ZeroMQ, or threads with the ``inproc`` transport);
* :class:`SingleProcess` — the same network in this process, the baseline row.

:func:`measure` fills ``benchmark.group`` (one group per architecture, so distributed
and single-process rows sit side by side) and ``benchmark.extra_info`` (what a reader of
``pytest-benchmark compare`` needs to know what a row ran), runs the benchmark and checks
the distributed output against the single-process one. The pytest fixtures that start
and always clean up these targets are in :mod:`parawire.testing.latency`; the decisions
are in docs/latency-suites.md.

torch is imported lazily (at first use), like everywhere in the study path.
"""

from __future__ import annotations

import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from parawire.errors import ParawireError
from parawire.graph.spec import OWN_PLUGINS, ArchitectureSpec
from parawire.registry.manager import get_plugins, resolve_engine
from parawire.registry.records import WholeContext

SpecLike = ArchitectureSpec | dict | str | Path


def as_spec(spec: SpecLike) -> ArchitectureSpec:
    """A spec, its JSON mapping, or a ``.json``/``.toml`` file."""
    if isinstance(spec, ArchitectureSpec):
        return spec
    if isinstance(spec, dict):
        return ArchitectureSpec.parse(spec)
    if isinstance(spec, (str, Path)):
        return ArchitectureSpec.load(spec)
    raise ParawireError(
        f"spec: got a {type(spec).__name__}; pass an ArchitectureSpec, its dict, or a .json/.toml file path"
    )


def _threads(threads: int) -> int:
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ParawireError(f"threads: got {threads!r}; use a whole number ≥ 1 (os.cpu_count() for all cores)")
    return threads


def suite_group(spec: ArchitectureSpec) -> str:
    """The benchmark group of one architecture, e.g. ``er(p=0.3) 16 nodes seed 2 3x32x32
    base_channels=16``: generator (with the parameters it sets), nodes, seed, input shape,
    then every other field the spec sets away from its default.

    Built from the fields set away from their defaults (not from a hash of the whole
    spec), so a field parawire adds later with a default does not rename every group
    and break comparisons with earlier commits.
    """

    def call(name: str, params: dict) -> str:
        return name + (f"({', '.join(f'{k}={v}' for k, v in sorted(params.items()))})" if params else "")

    def shown(name: str) -> str:  # parawire's own plugins by their bare names: ``dp``, as before qualified defaults
        return name.removeprefix(f"{OWN_PLUGINS}:")

    rest = spec.model_dump(mode="json", exclude_defaults=True)
    default_staging = ArchitectureSpec.model_fields["staging"].default
    away = shown(spec.staging) != default_staging or spec.staging_params
    staging = f" staging={call(shown(spec.staging), spec.staging_params)}" if away else ""
    for name in ("generator", "params", "nodes", "seed", "input_shape", "staging", "staging_params"):
        rest.pop(name, None)
    c, h, w = spec.input_shape
    head = f"{call(shown(spec.generator), spec.params)} {spec.nodes} nodes seed {spec.seed} {c}x{h}x{w}{staging}"
    return head + "".join(f" {k}={v}" for k, v in sorted(rest.items()))


def _device(profile, engine: str):
    """The latency model's profile: a name (``local`` being calibrated for ``engine``), a
    :class:`~parawire.latency.model.DeviceProfile`, or ``None``."""
    from parawire.calibration.local import get_profile

    return get_profile(profile, engine=engine) if isinstance(profile, str) else profile


def _predicted_ms(arch, partition, profile, units: int, engine: str, codecs=None):
    """(plan, predicted ms or None) of ``partition`` under the latency model's ``profile``
    (as :func:`_device` takes it), its crossings coded by ``codecs`` (default raw)."""
    from parawire.calibration.codecs import codec_cost
    from parawire.executor.plan import plan_for
    from parawire.registry.codecs import RAW_PLAN

    plan = plan_for(arch, partition, _device(profile, engine), units=units, codecs=codecs or RAW_PLAN,
                    cost=lambda choice: codec_cost(choice, engine))
    ms = plan.predicted_latency_s * 1e3 if plan.predicted_latency_s is not None else None
    return plan, ms


class _Target:
    """What both targets share: a fixed input of the spec's shape, and ``with`` → close."""

    spec: ArchitectureSpec

    def example_input(self, batch: int = 1):
        """A fixed input of the spec's shape (seeded by the spec's seed)."""
        import torch

        if batch < 1:
            raise ParawireError(f"batch: got {batch}; at least 1")
        return torch.randn(batch, *self.spec.input_shape, generator=torch.Generator().manual_seed(self.spec.seed))

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SingleProcess(_Target):
    """``spec``'s whole network in this process, compiled by ``engine`` (its ``whole``
    form, as ``parawire run`` measures it), on ``threads`` intra-op threads.

    torch's thread count is process-wide: :meth:`infer` sets it when it differs (not at
    every call, which would resize the OpenMP pool inside a timed loop) and :meth:`close`
    puts back the count found at construction.
    """

    mode = "single-process"
    units = 1
    transport = None

    def __init__(self, spec: SpecLike, threads: int = 1, engine: str | None = None, *,
                 profile: str | None = "local", arch=None) -> None:
        import torch
        from parawire.network.nn import build_network
        from parawire.pipeline.build import build_architecture

        self.spec = as_spec(spec)
        self.threads = _threads(threads)
        self.engine = resolve_engine(engine)
        self.profile = profile
        self.arch = arch if arch is not None else build_architecture(self.spec)
        self._threads_before = torch.get_num_threads()
        self._run = get_plugins().engines.get(self.engine).invoke(
            WholeContext(build_network(self.arch).eval(), self.threads))
        self._predicted: tuple | None = None

    @property
    def predicted_ms(self) -> float | None:
        """The latency model's figure for one unit; ``None`` without a profile or on more
        than one thread (the model's profiles are per-thread)."""
        if self.profile is None or self.threads != 1:
            return None
        if self._predicted is None:
            import numpy as np

            zeros = np.zeros(self.arch.dag.graph.number_of_nodes(), dtype=np.int64)
            self._predicted = _predicted_ms(self.arch, zeros, self.profile, 1, self.engine)
        return self._predicted[1]

    def infer(self, x):
        import torch

        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        with torch.inference_mode():
            return self._run(x)

    def __call__(self, x):
        return self.infer(x)

    def info(self) -> dict[str, Any]:
        return {"threads": self.threads, "partitioner": None, "endpoint_kind": None, "bytes_per_inference": 0,
                "codec": None}

    def close(self) -> None:
        import torch

        torch.set_num_threads(self._threads_before)


class LocalCluster(_Target):
    """One spec deployed on local workers; built by :func:`deploy_local`.

    ``infer(x)`` runs one distributed inference; ``plan`` is the placement,
    ``predicted_ms`` the latency model's figure for it, ``reference`` the same network in
    this process (:class:`SingleProcess`, call it on ``x`` for the expected output),
    ``workers`` the :class:`~parawire.executor.local.LocalWorkers` (to kill one in a
    fault test), ``cluster`` the coordinator. :meth:`close` stops everything.
    """

    mode = "distributed"

    def __init__(self, spec, arch, plan, predicted_ms, reference, workers, cluster, stack, *,
                 transport: str, endpoint_kind: str, engine: str, partitioner: str, threads: int) -> None:
        self.spec, self.arch, self.plan, self.predicted_ms = spec, arch, plan, predicted_ms
        self.reference, self.workers, self.cluster, self._stack = reference, workers, cluster, stack
        self.transport, self.endpoint_kind, self.engine = transport, endpoint_kind, engine
        self.partitioner, self.threads = partitioner, threads

    @property
    def units(self) -> int:
        return self.plan.units

    def infer(self, x):
        return self.cluster.infer(x)

    def stats(self):
        """Traffic since deployment (:class:`~parawire.executor.coordinator.ClusterStats`)."""
        return self.cluster.stats()

    @property
    def exact(self) -> bool:
        """Every crossing's codec gives back what was computed (``raw``, ``zstd`` over it)."""
        from parawire.registry.codecs import exact_plan

        return exact_plan(self.plan.codecs)

    def check(self, x, out=None, rtol: float = 1e-4, atol: float = 1e-5) -> None:
        """Raise unless the distributed output for ``x`` (``out``, or a fresh inference)
        equals the single-process one within the tolerances; under a lossy codec, unless
        it has the same top-1 class for every image."""
        import torch

        got = self.infer(x) if out is None else out
        want = self.reference(x)
        if got.shape == want.shape and not self.exact:  # a lossy codec: the classes must stay
            if torch.equal(got.argmax(-1), want.argmax(-1)):
                return
            rtol = atol = 0.0
        if got.shape != want.shape or not torch.allclose(got, want, rtol=rtol, atol=atol):
            diff = (got - want).abs().max().item() if got.shape == want.shape else f"shape {tuple(got.shape)}"
            raise ParawireError(
                f"{suite_group(self.spec)} on {self.units} units: distributed output differs from the "
                f"single-process one (max abs difference {diff}; rtol={rtol}, atol={atol})"
            )

    def info(self) -> dict[str, Any]:
        return {
            "threads": self.threads,
            "partitioner": self.partitioner,
            "endpoint_kind": self.endpoint_kind if self.transport != "inproc" else None,
            "bytes_per_inference": self.plan.cut_bytes,
            "codec": self.plan.codecs.label,
        }

    def close(self) -> None:
        self._stack.close()


def deploy_local(
    spec: SpecLike,
    units: int = 2,
    transport: str | None = None,
    endpoint_kind: str = "ipc",
    engine: str | None = None,
    partitioner: str | None = None,
    *,
    eps: float = 0.03,
    threads: int = 1,
    profile: str | None = "local",
    timeout: float = 30.0,
    check: bool = True,
    codec: str = "raw",
    codec_params: dict | None = None,
    transport_params: dict | None = None,
) -> LocalCluster:
    """Partition ``spec`` over ``units`` local workers and deploy it.

    ``threads``: torch threads per worker; ``profile``: the latency model's device profile
    for ``predicted_ms`` (``local`` is calibrated once on this machine and cached; ``None``
    skips the prediction); ``check``: run one inference (the warm-up) and compare it with
    the single-process network before returning; ``codec``/``codec_params``: every
    crossing's codec (as ``--codec``; the partition counts its bytes); ``transport_params``:
    the transport plugin's parameters (as ``--transport-param``), for the workers and the
    coordinator. ``transport`` and
    ``partitioner`` left out are parawire's ``zmq`` and ``multilevel`` (selected as parawire's
    even where another distribution provides the names). Everything is validated before any
    worker starts, and whatever fails after that stops the workers started so far.
    """
    from parawire.executor.coordinator import Cluster
    from parawire.executor.local import ENDPOINT_KINDS, LocalWorkers
    from parawire.executor.transport import transport_record

    threads = _threads(threads)
    if endpoint_kind not in ENDPOINT_KINDS:
        raise ParawireError(f"endpoint_kind: got {endpoint_kind!r}; use one of {', '.join(ENDPOINT_KINDS)}")
    transport = transport or get_plugins().transports.own("zmq")
    # an unknown name fails here, listing the known ones, and bad parameters naming the field
    transport_record(transport, transport_params)

    def start(stack: ExitStack):
        if transport == "inproc":
            # in-process workers share this process's thread count: one per worker thread
            from parawire.network.threads import torch_threads

            stack.enter_context(torch_threads(threads))
        workers = stack.enter_context(LocalWorkers(units, transport, endpoint_kind, threads=threads,
                                                   transport_params=transport_params))
        return workers, Cluster.connect(workers.endpoints, transport, timeout=timeout,
                                        transport_params=transport_params)

    return _deploy(spec, units, engine, partitioner, eps, profile, check, start, _codecs(codec, codec_params),
                   transport=transport, endpoint_kind=endpoint_kind, threads=threads)


def deploy_testbed(
    spec: SpecLike,
    units: int = 2,
    preset: str = "t2.micro",
    engine: str | None = None,
    partitioner: str | None = None,
    *,
    eps: float = 0.03,
    timeout: float = 120.0,
    check: bool = True,
    codec: str = "raw",
    codec_params: dict | None = None,
) -> LocalCluster:
    """Deploy ``spec`` on ``units`` emulated devices of ``preset`` (docs/testbed.md: network
    namespaces, tbf-shaped links, CPU quotas; needs root). ``predicted_ms`` uses the
    preset's profile built on this machine's ``local`` one, with its nominal per-message
    latency (``parawire testbed`` measures the round trip and fits the compute scale)."""
    from parawire.calibration.local import get_profile
    from parawire.latency.profiles import preset_profile
    from parawire.testbed.lifecycle import Testbed
    from parawire.testbed.presets import get_preset

    device = get_preset(preset)
    engine = resolve_engine(engine)
    base = get_profile("local", engine=engine)
    profile = preset_profile(device, base, base.message_latency_s, engine=engine)

    def start(stack: ExitStack):
        bed = stack.enter_context(Testbed.up(units, device))
        bed.start_workers()
        return bed, bed.connect(timeout=timeout)

    return _deploy(spec, units, engine, partitioner, eps, profile, check, start, _codecs(codec, codec_params),
                   transport="zmq", endpoint_kind=f"tcp {device.name} testbed", threads=1)


def _codecs(codec: str, params: dict | None):
    """The plan of one codec for every crossing, validated before any worker starts."""
    from parawire.registry.codecs import CodecChoice, CodecPlan, get_codec

    choice = CodecChoice(name=codec, params=dict(params or {}))
    get_codec(choice)
    return CodecPlan(default=choice)


def _deploy(spec, units, engine, partitioner, eps, profile, check, start, codecs, **labels) -> LocalCluster:
    """The steps every deployment shares: validate, partition, plan and predict, then
    ``start(stack)`` → (workers, coordinator) with everything entered in ``stack``,
    deploy, check. Whatever fails after ``start`` closes what it started."""
    from parawire.calibration.codec_choice import SIZE_IMAGES, calibration_set, data_sized, place_sized
    from parawire.network.nn import build_network
    from parawire.pipeline.build import build_architecture
    from parawire.pipeline.placement import partition_architecture
    from parawire.pipeline.wire import wire_of

    spec = as_spec(spec)
    engine = resolve_engine(engine)
    partitioner = partitioner or get_plugins().partitioners.own("multilevel")
    if not isinstance(units, int) or isinstance(units, bool) or units < 1:
        raise ParawireError(f"units: got {units!r}; use a whole number ≥ 1")
    arch = build_architecture(spec)
    device = _device(profile, engine)

    def place(coded):
        with warnings.catch_warnings():
            # a partitioner that cannot meet eps on a tiny DAG warns; the plan is still valid
            warnings.simplefilter("ignore")
            # like `parawire run`: balance the time the profile predicts (FLOPs without one)
            partition = partition_architecture(arch, units, partitioner, eps, profile=device,
                                               wire=wire_of(arch, coded))
        return _predicted_ms(arch, partition, device, units, engine, coded)[0]

    # a compressor: count the bytes it makes of this network's activations
    xs = calibration_set(spec.input_shape, SIZE_IMAGES, seed=spec.seed % 2**32)
    net = build_network(arch).eval() if data_sized(codecs) else None
    codecs, plan = place_sized(place, arch, net, codecs, xs)
    predicted = plan.predicted_latency_s * 1e3 if plan.predicted_latency_s is not None else None
    with ExitStack() as stack:
        # the expected outputs come from torch eager, whatever engine the workers use
        reference = stack.enter_context(SingleProcess(spec, 1, get_plugins().engines.own("torch"), profile=None,
                                                      arch=arch))
        workers, cluster = start(stack)
        stack.enter_context(cluster)
        cluster.deploy(spec, plan, engine=engine)
        target = LocalCluster(spec, arch, plan, predicted, reference, workers, cluster, stack,
                              engine=engine, partitioner=partitioner, **labels)
        if check:
            target.check(target.example_input())
        target._stack = stack.pop_all()  # from here on, target.close() stops everything
    return target


def benchmark_info(target: SingleProcess | LocalCluster, x) -> dict[str, Any]:
    """The ``extra_info`` of one benchmark row (every key on every row, ``None`` where it
    does not apply, so tables and JSON line up)."""
    spec = target.spec
    return {
        "mode": target.mode,
        "generator": spec.generator,
        "nodes": spec.nodes,
        "seed": spec.seed,
        "input_shape": list(x.shape),
        "units": target.units,
        "engine": target.engine,
        "transport": target.transport,
        "predicted_ms": target.predicted_ms,
        **target.info(),
    }


def describe(benchmark, target: SingleProcess | LocalCluster, x, group: str | None = None) -> None:
    """Fill ``benchmark.group`` (the architecture's :func:`suite_group` unless given) and
    ``benchmark.extra_info``, for a caller who runs the benchmark itself."""
    benchmark.group = group or suite_group(target.spec)
    benchmark.extra_info.update(benchmark_info(target, x))


def measure(benchmark, target: SingleProcess | LocalCluster, x=None, group: str | None = None):
    """Benchmark one inference of ``target`` on ``x`` (default: its example input) with
    the suite's conventions; returns the output.

    A distributed target's output is checked against the single-process network, and
    ``bytes_per_inference`` is then the bytes the workers really sent each other per
    benchmarked inference of ``x`` (the plan's Λ, for batch 1, before the run).
    """
    x = target.example_input() if x is None else x
    describe(benchmark, target, x, group)
    if not isinstance(target, LocalCluster):
        return benchmark(target.infer, x)
    before = target.stats()
    out = benchmark(target.infer, x)
    after = target.stats()
    target.check(x, out)
    benchmark.extra_info["bytes_per_inference"] = (after.peer_bytes - before.peer_bytes) / (
        after.inferences - before.inferences)
    return out
