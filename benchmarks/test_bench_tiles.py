"""A tile stage on ONNX Runtime: the hand-built graph against torch's export of the same
stage, and the tiles' sum against one session of the whole network, in the same rounds.

    pytest benchmarks/test_bench_tiles.py --benchmark-only --benchmark-columns=median,rounds

Why: exported with a free batch, every box cut and border pad of a tile became shape
arithmetic that ONNX Runtime neither folds nor fuses (issue 24), so the hand-built graph
(:mod:`parawire.engines.onnx_tiles`) is the engine's way; this says by how much, and how
far the tiles' sum stays above the whole network (the copies the latency model charges
as ``copied_bytes``). DP-40, 1×4 tiles of every vertex (its 224-px placement on four
t2.micro devices), at 128 px to keep the suite's single round short; one thread.
"""

from __future__ import annotations

import itertools
import statistics
import time

import pytest
import torch
from parawire.engines.fx_onnx import export_session
from parawire.engines.onnx_tiles import stage_model
from parawire.engines.ort import Session
from parawire.graph.spec import ArchitectureSpec
from parawire.network.halo import tile_grid
from parawire.network.nn import build_network
from parawire.network.threads import torch_threads
from parawire.network.tiled import TileStack
from parawire.pipeline.build import build_architecture

SIZE = 128


@pytest.fixture(scope="module")
def calls():
    arch = build_architecture(ArchitectureSpec(generator="dp", nodes=40, seed=0, input_shape=(3, SIZE, SIZE)))
    net = build_network(arch).eval()
    grid = tile_grid(arch.layout, 1, 4, min(int(s[1]) for s in arch.layout.out_shape[:-1]))
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    crops = [x[..., r0:r1, c0:c1].contiguous() for r0, r1, c0, c1 in grid.crops]
    stacks = [TileStack(net, grid, t) for t in range(grid.tiles)]
    with torch_threads(1):
        hand = [Session(stage_model(s), 1).all for s in stacks]
        exported = [export_session(s, (c,), 1, batch=True).all for s, c in zip(stacks, crops)]

        class Whole(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = net

            def forward(self, image):
                return (self.net(image),)

        whole = export_session(Whole(), (x,), 1).all
    return {"hand-built tiles": lambda: [h([c]) for h, c in zip(hand, crops)],
            "exported tiles": lambda: [e([c]) for e, c in zip(exported, crops)],
            "whole network": lambda: whole([x])}


def interleaved(benchmark, calls: dict, rounds: int = 10) -> dict[str, float]:
    """Median milliseconds of each call, timed in ``rounds`` rounds of all of them in
    rotating order (the benchmarked call is one round; a warm-up round is not counted)."""
    times: dict[str, list[float]] = {key: [] for key in calls}
    count = itertools.count()
    order = list(calls.items())

    def one_round() -> None:
        shift = next(count) % len(order)
        with torch_threads(1):
            for key, call in order[shift:] + order[:shift]:
                start = time.perf_counter()
                call()
                times[key].append(time.perf_counter() - start)

    one_round()
    for t in times.values():
        t.clear()
    benchmark.pedantic(one_round, rounds=rounds, iterations=1)
    return {key: statistics.median(t) * 1e3 for key, t in times.items()}


def test_hand_built_tile_stages_against_the_export(benchmark, summary_line, calls):
    """The figures are ratios of the three calls' medians."""
    ms = interleaved(benchmark, calls)
    summary_line(f"DP-40 at {SIZE} px, 1×4 tiles, one thread: hand-built {ms['hand-built tiles']:.2f} ms,"
                 f" exported {ms['exported tiles']:.2f} ms (ratio {ms['hand-built tiles'] / ms['exported tiles']:.2f}),"
                 f" whole network {ms['whole network']:.2f} ms (tiles / whole"
                 f" {ms['hand-built tiles'] / ms['whole network']:.2f})")


@pytest.fixture(scope="module")
def staged_calls():
    """FB-40's tile 1 of 1×4 at depth 1 (its 224-px placement on four t2.micro devices, at
    ``SIZE`` px): the stage calls in the order of an inference, with the sessions on one
    arena (the engine's way) and on one arena each (ORT's default), and the whole
    network in one session."""
    from parawire.engines.ort import unit_session

    arch = build_architecture(ArchitectureSpec(generator="fb", nodes=40, seed=0, input_shape=(3, SIZE, SIZE)))
    net = build_network(arch).eval()
    grid = tile_grid(arch.layout, 1, 4, min(int(s[1]) for s in arch.layout.out_shape[:-1]), depth=1)
    gen = torch.Generator().manual_seed(0)
    stacks = [TileStack(net, grid, 1, k) for k in range(len(grid.stages))]
    feeds = [[torch.randn(1, *shape, generator=gen) for shape in stack.input_shapes()] for stack in stacks]
    x = torch.randn(1, 3, SIZE, SIZE, generator=gen)
    with torch_threads(1):
        shared = [Session(stage_model(s), 1).all for s in stacks]
        own = [Session(stage_model(s), 1, shared_arena=False).all for s in stacks]
        whole, _ = unit_session(net, arch.dag.order, [arch.dag.output], 1)
    return {"one arena": lambda: [call(f) for call, f in zip(shared, feeds)],
            "an arena each": lambda: [call(f) for call, f in zip(own, feeds)],
            "whole network": lambda: whole([x])}, len(stacks)


def test_tile_stages_on_one_arena_against_one_arena_each(benchmark, summary_line, staged_calls):
    """Why the engine puts every session on one arena: a tile unit's calls run one after
    another, and with an arena each every call starts on memory the others left cold."""
    calls, stages = staged_calls
    ms = interleaved(benchmark, calls)
    summary_line(f"FB-40 at {SIZE} px, tile 1 of 1×4, {stages} stage calls, one thread: one arena"
                 f" {ms['one arena']:.2f} ms, an arena each {ms['an arena each']:.2f} ms (ratio"
                 f" {ms['one arena'] / ms['an arena each']:.2f}); whole network {ms['whole network']:.2f} ms"
                 f" (a quarter of it: {ms['whole network'] / 4:.2f})")
