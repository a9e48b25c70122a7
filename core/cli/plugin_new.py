"""``parawire plugin new NAME --kind KIND``: start a plugin package from a template.

Writes ``parawire-NAME/`` with a ``pyproject.toml`` (the ``parawire`` entry point), one
working plugin of the chosen kind in ``src/parawire_NAME/__init__.py`` (importing only
:mod:`parawire.plugin`), a test that uses the ``register_plugin`` fixture, and a README
saying how to install and use it. The package is complete as written: ``pip install -e``
it and ``parawire plugins`` lists the plugin; ``pytest`` passes before and after
installing (``pythonpath = ["src"]`` in its pytest settings; datasette and llm ship the
same kind of template).

The package pins the parawire releases it can work with (``parawire>=0.1,<0.2`` for
this 0.1: before 1.0 a minor release may break, after it a major one) and its module
declares the plugin API it is written for (``PARAWIRE_API``), so a parawire that cannot
run it refuses it in one line instead of failing somewhere inside.
"""

from __future__ import annotations

import re
import textwrap
from importlib import metadata
from pathlib import Path

import click
from parawire.errors import ParawireError
from parawire.registry.records import API_VERSION

NAME = re.compile(r"^[a-z][a-z0-9_]*$")

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "A parawire {kind} plugin: {name}."
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["{parawire}", "numpy>=1.24", "networkx>=3.0", "pydantic>=2.5"]

[project.entry-points.parawire]
{name} = "{module}"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
pythonpath = ["src"]  # its test passes before the package is installed too
"""

README = """\
# {dist}

A parawire {kind} plugin called `{name}`, started from `parawire plugin new`.

```bash
pip install -e .        # then `parawire plugins` lists it
pytest                  # its test, with parawire's register_plugin fixture
{usage}
```

The contract of a {kind} plugin is on its record (`parawire.plugin.{record}`) and in
parawire's docs/plugins.md. Raise `parawire.plugin.SpecError` with one line naming the
field and the fix for bad input.
"""

USAGE = {
    "generators": "parawire generate -g {name} -n 20 -p p=0.3 -o arch.json",
    "staging": "parawire generate -g dp -n 20 --staging {name} --staging-param p=0.3 -o arch.json",
    "partitioners": "parawire score arch.json --units 4 --partitioner {name}",
    "scores": "parawire score arch.json --units 4 --score {name}",
    "transports": "parawire run arch.json --units 2 --local --transport {name} --transport-param max_bytes=100000000",
    "engines": "parawire run arch.json --units 2 --local --engine {name}",
    "codecs": "parawire run arch.json --units 2 --local --codec {name}",
}

RECORD = {
    "generators": "GeneratorPlugin",
    "staging": "StagingPlugin",
    "partitioners": "PartitionerPlugin",
    "scores": "ScorePlugin",
    "transports": "TransportPlugin",
    "engines": "EnginePlugin",
    "codecs": "CodecPlugin",
}

CODE = {
    "generators": '''
        """Generator {name!r}: each pair of vertices is an edge with probability p."""

        import networkx as nx
        import numpy as np
        from parawire.plugin import GeneratorPlugin, hookimpl
        from pydantic import BaseModel, ConfigDict, Field


        class Params(BaseModel):
            model_config = ConfigDict(extra="forbid")

            p: float = Field(0.2, ge=0.0, le=1.0, description="edge probability")


        def generate(nodes: int, rng: np.random.Generator, params: Params) -> nx.Graph:
            """Vertices 0..nodes-1; only ``rng`` may be used for randomness (reproducible)."""
            rows, cols = np.triu_indices(nodes, k=1)
            keep = rng.random(rows.size) < params.p
            graph = nx.empty_graph(nodes)
            graph.add_edges_from(zip(rows[keep].tolist(), cols[keep].tolist()))
            return graph


        @hookimpl
        def parawire_generators():
            return [GeneratorPlugin(name={name!r}, summary="pairs joined with probability p",
                                    params=Params, generate=generate)]
    ''',
    "staging": '''
        """Staging policy {name!r}: stage a block with probability p, below the channel cap."""

        import numpy as np
        from parawire.plugin import StagingPlugin, cap_stages, hookimpl
        from pydantic import BaseModel, ConfigDict, Field


        class Params(BaseModel):
            model_config = ConfigDict(extra="forbid")

            p: float = Field(0.3, ge=0.0, le=1.0, description="probability that a block stages")


        def assign(dag, spec, rng: np.random.Generator, params: Params) -> np.ndarray:
            """One bool per DAG vertex (dag.nodes + 2 of them, input and output last)."""
            coins = rng.random(dag.nodes + 2) < params.p  # drawn up front: reproducible
            return cap_stages(dag, spec, lambda v: bool(coins[v]))


        @hookimpl
        def parawire_staging_policies():
            return [StagingPlugin(name={name!r}, summary="stage with probability p",
                                  params=Params, assign=assign)]
    ''',
    "partitioners": '''
        """Partitioner {name!r}: deal the vertices round-robin in topological order."""

        import numpy as np
        from parawire.plugin import (
            NoParams,
            PartitionerPlugin,
            check_args,
            hookimpl,
            repaired,
            trivial_partition,
        )


        def partition(hypergraph, k: int, eps: float, seed: int, params: NoParams) -> np.ndarray:
            """Vertex → unit in 0..k-1; ``repaired`` meets the balance limit or warns."""
            check_args(hypergraph, k, eps)
            fixed = trivial_partition(hypergraph, k, eps, {name!r})  # warns if k ≥ |V| is unbalanced
            if fixed is not None:
                return fixed
            n = hypergraph.num_vertices
            order = np.arange(n) if hypergraph.order is None else np.asarray(hypergraph.order)
            parts = np.empty(n, dtype=np.int64)
            parts[order] = np.arange(n) % k
            return repaired(hypergraph, k, eps, parts, {name!r})


        @hookimpl
        def parawire_partitioners():
            return [PartitionerPlugin(name={name!r}, summary="round-robin in topological order",
                                      params=NoParams, partition=partition)]
    ''',
    "scores": '''
        """Score {name!r}: the busiest unit's share of the work, times (1 + cut share)."""

        import numpy as np
        from parawire.plugin import ScoreContext, ScorePlugin, hookimpl
        from pydantic import BaseModel, ConfigDict, Field


        class Params(BaseModel):
            model_config = ConfigDict(extra="forbid")

            cut_weight: float = Field(1.0, ge=0.0, description="how much the cut nets count")


        def score(context: ScoreContext, params: Params) -> float:
            """Lower is better. ``context`` also has dag, metrics, units and eps."""
            hg, parts = context.hypergraph, context.partition
            work = np.bincount(parts, weights=hg.vertex_weights, minlength=context.units)
            busiest = work.max() / work.sum() if work.sum() else 1.0
            cut = np.mean([np.unique(parts[hg.pins(e)]).size > 1 for e in range(hg.num_nets)])
            return float(busiest * (1.0 + params.cut_weight * cut))


        @hookimpl
        def parawire_scores():
            return [ScorePlugin(name={name!r}, summary="busiest unit's share × (1 + cut share)",
                                params=Params, score=score)]
    ''',
    "transports": '''
        """Transport {name!r}: ZeroMQ with its own message size limit."""

        from parawire.plugin import TransportPlugin, ZmqTransport, hookimpl
        from pydantic import BaseModel, ConfigDict, Field


        class Params(BaseModel):
            model_config = ConfigDict(extra="forbid")

            max_bytes: int = Field(1 << 30, ge=1024, description="larger messages are dropped")


        class Transport(ZmqTransport):
            """bind (a worker's inbox), link (to a peer), client (the coordinator's links),
            close: ZeroMQ's, inherited; override what your transport does differently."""

            name = {name!r}

            def __init__(self, params: Params) -> None:
                super().__init__()
                self.max_bytes = params.max_bytes

            def bind(self, address, curve=None, max_bytes=None):
                return super().bind(address, curve, min(max_bytes or self.max_bytes, self.max_bytes))


        @hookimpl
        def parawire_transports():
            return [TransportPlugin(name={name!r}, summary="ZeroMQ with a message size limit",
                                    params=Params, factory=Transport)]
    ''',
    "engines": '''
        """Engine {name!r}: parawire's own torch blocks, one call per vertex, no staging."""

        from parawire.plugin import EnginePlugin, NoParams, hookimpl


        def compile(net, vertices, threads=None):
            """vertex → callable(inputs) -> tensor; here each vertex's torch block, whole."""
            return {{v: net.blocks[str(v)] for v in vertices}}


        def whole(net, threads=None):
            """The complete network as one process would run it (parawire run's baseline)."""
            return net


        @hookimpl
        def parawire_engines():
            return [EnginePlugin(name={name!r}, summary="torch eager, one call per vertex",
                                 params=NoParams, compile=compile, whole=whole)]
    ''',
    "codecs": '''
        """Codec {name!r}: float tensors as float16, saturated at ±65504 instead of overflowing."""

        import math

        import numpy as np
        import torch
        from parawire.plugin import CodecPlugin, NoParams, expect_size, hookimpl


        class Codec:
            exact = False  # decode(encode(x)) is not x: parawire uses it only when asked to
            sized = True  # encoded_bytes is exactly what encode sends (the score counts it)

            def encoded_bytes(self, dtype, shape):
                return math.prod(shape) * 2

            def encode(self, tensor):
                return tensor.clamp(-65504, 65504).to(torch.float16).numpy().tobytes()

            def decode(self, payload, dtype, shape):
                expect_size(payload, self.encoded_bytes(dtype, shape), {name!r})  # before allocating
                values = np.frombuffer(payload, dtype=np.float16).astype(np.float32)
                return torch.from_numpy(values).view(shape).to(dtype)


        @hookimpl
        def parawire_codecs():
            return [CodecPlugin(name={name!r}, summary="float16, saturated", params=NoParams, factory=Codec)]
    ''',
}

TESTS = {
    "generators": '''
        import numpy as np
        from parawire.plugin import GeneratorContext


        def test_draws_the_asked_vertices_reproducibly(register_plugin):
            record = register_plugin({module}).generators.get({name!r})
            draw = lambda: record.invoke(GeneratorContext(nodes=12, rng=np.random.default_rng(5)),
                                         record.params(p=0.5))
            assert sorted(draw().nodes) == list(range(12))
            assert sorted(draw().edges) == sorted(draw().edges)
            assert record.invoke(GeneratorContext(nodes=6, rng=np.random.default_rng(0)),
                                 record.params(p=1.0)).number_of_edges() == 15
    ''',
    "staging": '''
        import networkx as nx
        import numpy as np
        from parawire.plugin import ArchitectureSpec, StagingContext, to_dag


        def test_one_flag_per_vertex_and_never_at_the_ends(register_plugin):
            record = register_plugin({module}).staging.get({name!r})
            dag = to_dag(nx.path_graph(10))
            spec = ArchitectureSpec(nodes=10, base_channels=8, channel_cap=1024)
            flags = record.invoke(StagingContext(dag=dag, spec=spec, rng=np.random.default_rng(0)),
                                  record.params(p=1.0))
            assert flags.shape == (12,)
            assert not flags[dag.input] and not flags[dag.output]
            assert flags[:7].all() and not flags[7:10].any()  # 8 → 1024 channels: 7 doublings
    ''',
    "partitioners": '''
        import networkx as nx
        import numpy as np
        from parawire.plugin import Hypergraph, PartitionContext, to_dag


        def test_every_unit_used_and_balanced(register_plugin):
            record = register_plugin({module}).partitioners.get({name!r})
            dag = to_dag(nx.path_graph(10))
            hg = Hypergraph.from_dag(dag, np.ones(12, dtype=np.int64), np.ones(12, dtype=np.int64))
            parts = record.invoke(PartitionContext(hg, 3, 0.1, 0, dag=dag), record.params())
            assert sorted(set(parts.tolist())) == [0, 1, 2]
            assert np.bincount(parts).max() <= 4  # ⌊(1 + 0.1) · ⌈12 / 3⌉⌋
    ''',
    "scores": '''
        import networkx as nx
        import numpy as np
        from parawire.plugin import Hypergraph, ScoreContext, to_dag


        def test_busiest_share_times_cut(register_plugin):
            record = register_plugin({module}).scores.get({name!r})
            dag = to_dag(nx.path_graph(2))  # input → 0 → 1 → output: 4 vertices, 4 nets
            hg = Hypergraph.from_dag(dag, np.array([1, 3, 0, 0]), np.ones(4, dtype=np.int64))
            parts = np.array([0, 1, 0, 1])
            context = ScoreContext(parts, hg, dag, None, units=2, eps=0.1)
            cut = np.mean([len(set(parts[hg.pins(e)].tolist())) > 1 for e in range(hg.num_nets)])
            assert record.invoke(context, record.params()) == 0.75 * (1 + cut)
    ''',
    "transports": '''
        from parawire.plugin import get_transport


        def test_messages_go_through(register_plugin, tmp_path):
            register_plugin({module})
            transport = get_transport({name!r}, {{"max_bytes": 1 << 20}})
            inbox = transport.bind(f"ipc://{{tmp_path}}/unit0")
            client = transport.client([inbox.address])
            client.send(0, [b"hello", b"world"])
            token, frames = inbox.recv(10.0)
            assert [bytes(f) for f in frames] == [b"hello", b"world"]
            client.close()
            inbox.close()
            transport.close()
    ''',
    "engines": '''
        import torch
        from parawire.plugin import ArchitectureSpec, CompileContext, build_architecture, build_network


        def test_vertex_by_vertex_equals_the_network(register_plugin):
            record = register_plugin({module}).engines.get({name!r})
            arch = build_architecture(ArchitectureSpec(generator="dp", nodes=8, base_channels=8,
                                                       input_shape=(3, 16, 16)))
            net = build_network(arch).eval()
            x = torch.randn(1, 3, 16, 16)
            with torch.inference_mode():
                blocks = record.invoke(CompileContext(net, arch.dag.order, 1), record.params())
                outs = {{}}
                for v in arch.dag.order:
                    outs[v] = blocks[v]([outs[p] for p in arch.dag.preds[v]] or [x])
                assert torch.allclose(outs[arch.dag.output], net(x), atol=1e-5)
    ''',
    "codecs": '''
        import pytest
        import torch
        from parawire.plugin import CodecFrameError, get_codec


        def test_half_the_bytes_saturated_and_short_frames_refused(register_plugin):
            register_plugin({module})
            codec = get_codec({name!r})
            x = torch.randn(1, 8, 4, 4) * 1e5
            frame = codec.encode(x)
            assert len(frame) == codec.encoded_bytes(x.dtype, tuple(x.shape)) == x.numel() * 2
            y = codec.decode(memoryview(frame), x.dtype, tuple(x.shape))
            assert torch.isfinite(y).all() and y.abs().max() <= 65504
            with pytest.raises(CodecFrameError, match="frame is"):
                codec.decode(memoryview(frame[:-2]), x.dtype, tuple(x.shape))
    ''',
}


def compatible(version: str) -> str:
    """The requirement on parawire for a plugin written against ``version``: the same
    minor before 1.0, the same major after (the releases that keep its API)."""
    major, minor = (int(x) for x in re.findall(r"\d+", version)[:2])
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f"parawire>={major}.{minor},<{upper}"


def render(name: str, kind: str) -> dict[str, str]:
    """The files of package ``parawire-NAME`` (relative path → text)."""
    module = f"parawire_{name}"
    dist = f"parawire-{name.replace('_', '-')}"
    fields = {"name": name, "kind": kind.rstrip("s"), "module": module, "dist": dist, "record": RECORD[kind],
              "parawire": compatible(metadata.version("parawire"))}
    code = textwrap.dedent(CODE[kind]).lstrip().format(name=name).replace(
        "\n\n@hookimpl", f'\n\nPARAWIRE_API = "{API_VERSION}"  # the plugin API this module is written for\n\n\n@hookimpl', 1)
    return {
        "pyproject.toml": PYPROJECT.format(**fields),
        "README.md": README.format(**fields, usage=USAGE[kind].format(name=name)),
        f"src/{module}/__init__.py": code,
        f"tests/test_{module}.py": (
            f"import {module}\n" + textwrap.dedent(TESTS[kind]).format(name=name, module=module)
        ),
    }


def check_unshadowed(name: str, kind: str) -> None:
    """Refuse a NAME an installed plugin of the kind already has: the new package would
    make the bare name ambiguous (a ``conflict`` in ``parawire plugins``) for every user."""
    from parawire.registry.manager import get_plugins

    registry = get_plugins().kinds().get(kind)
    taken = {record.name: record.distribution for record in registry} if registry is not None else {}
    if name in taken:
        raise ParawireError(f"NAME: {name!r} is already a {kind} plugin (from {taken[name]}); a package of that"
                            " name would shadow it and make the name ambiguous; pick another NAME")


@click.group()
def plugin() -> None:
    """Tools for plugin authors."""


@plugin.command()
@click.argument("name")
@click.option("--kind", type=click.Choice(list(RECORD)), required=True, help="the kind of plugin")
@click.option("--directory", "-d", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="where to create the package folder")
def new(name: str, kind: str, directory: Path) -> None:
    """Write a plugin package parawire-NAME with one KIND plugin called NAME and its test."""
    if not NAME.match(name):
        raise ParawireError(f"NAME: got {name!r}; use lower-case letters, digits and '_', starting with a letter")
    check_unshadowed(name, kind)
    files = render(name, kind)
    root = directory / f"parawire-{name.replace('_', '-')}"
    if root.exists():
        raise ParawireError(f"{root}: already exists; pick another NAME or --directory")
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    click.echo(f"wrote {root}: pip install -e {root} && pytest {root}")
