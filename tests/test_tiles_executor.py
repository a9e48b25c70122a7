"""Hybrid plans: tiles + partition on workers equal one process; bytes equal the plan's Λ."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from parawire.errors import ParawireError
from parawire.executor.coordinator import Cluster
from parawire.executor.deployment import check_deployment
from parawire.executor.local import LocalWorkers
from parawire.executor.tiles import hybrid_plan, placed_plan, predicted_s
from parawire.graph.spec import ArchitectureSpec
from parawire.latency.model import Trace, vertex_seconds
from parawire.latency.profiles import EDGE
from parawire.latency.tiles import crop_bytes, hybrid_latency, tile_seconds
from parawire.network.halo import tile_grid
from parawire.network.nn import build_network
from parawire.network.tiled import TileStack
from parawire.pipeline.build import build_architecture
from parawire.pipeline.hybrid import choose_placement, grids
from parawire.pipeline.placement import partition_architecture, place_architecture
from parawire.registry.codecs import CodecChoice, CodecPlan
from parawire.score.hypergraph import image_bytes

from normalised import normalised, unit_weights


def arch_of(generator: str, size: int, seed: int = 3):
    return build_architecture(ArchitectureSpec(generator=generator, nodes=18 if generator == "fb" else 10,
                                               seed=seed, base_channels=8, input_shape=(3, size, size)))


def partitioned(arch, k, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return partition_architecture(arch, k, **kw)


def run(arch, plan, engine="torch", transport="inproc", images=2, bound=1e-4):
    """The plan on workers, with weights whose output depends on the image (tests/normalised.py)."""
    x = torch.randn(images, *arch.spec.input_shape, generator=torch.Generator().manual_seed(1))
    net = normalised(build_network(arch))
    with torch.inference_mode():
        reference = net(x)
    assert images == 1 or float((reference[0] - reference[1]).abs().max()) > 1e-3 * float(reference.abs().max())
    with LocalWorkers(plan.units, transport) as w, Cluster.connect(w.endpoints, transport, timeout=60) as c:
        c.deploy(arch.spec, plan, weights=unit_weights(net, plan), engine=engine)
        out = c.infer(x)
        stats = c.stats()
    assert out.shape == reference.shape
    assert float((out - reference).abs().max()) <= bound * float(reference.abs().max())
    return stats


CASES = [  # generator, size, grid, threshold, units: odd sizes, 1×k, k×1, 2×2, a non-tile unit
    ("dp", 35, (1, 3), 9, 3),
    ("er", 33, (2, 2), 9, 4),
    ("ws", 31, (2, 1), 8, 3),
    ("ba", 40, (1, 2), 10, 2),
    ("sbm", 32, (2, 2), 16, 4),
    ("chain", 29, (1, 2), 15, 3),
    ("fb", 33, (2, 2), 17, 4),
    ("fb", 130, (1, 4), 33, 4),
]


@pytest.mark.parametrize(("generator", "size", "grid", "threshold", "units"), CASES)
def test_hybrid_equals_one_process_and_moves_the_plans_bytes(generator, size, grid, threshold, units):
    arch = arch_of(generator, size)
    tiles = tile_grid(arch.layout, *grid, threshold)
    part = partitioned(arch, units, free=tiles.tiled)
    plan = hybrid_plan(arch, tiles, part, units)
    stats = run(arch, plan)
    crops = (stats.input_bytes / stats.inferences) - 2 * image_bytes(arch)  # a batch of two images
    assert (stats.peer_bytes / stats.inferences + crops) / 2 == plan.cut_bytes


STAGED = [  # generator, size, grid, threshold, depth, units, engine: halos exchanged between stages
    ("fb", 33, (2, 2), 9, 1, 4, "torch"),  # every vertex tiled: the output reduced to partial sums
    ("dp", 35, (1, 3), 18, 2, 3, "torch"),  # maps at 9 px gathered for the partition
    ("er", 33, (2, 1), 9, 1, 2, "onnxruntime"),  # each stage exported for its parts' shapes
    ("chain", 29, (1, 2), 8, 4, 3, "torch"),
]


@pytest.mark.parametrize(("generator", "size", "grid", "threshold", "depth", "units", "engine"), STAGED)
def test_stages_equal_one_process_and_move_the_plans_bytes(generator, size, grid, threshold, depth, units, engine):
    arch = arch_of(generator, size)
    tiles = tile_grid(arch.layout, *grid, threshold, depth)
    assert len(tiles.stages) > 1 and any(p.dst is not None for p in tiles.parts)
    plan = hybrid_plan(arch, tiles, partitioned(arch, units, free=tiles.tiled), units)
    stats = run(arch, plan, engine=engine)
    crops = (stats.input_bytes / stats.inferences) - 2 * image_bytes(arch)  # a batch of two images
    assert (stats.peer_bytes / stats.inferences + crops) / 2 == plan.cut_bytes
    # one message per part and receiving unit, as the model sends them
    trace = Trace()
    hybrid_latency(arch, tiles, plan.partition[:plan.tiling.first_piece], EDGE, trace=trace)
    assert len(trace.transfers) == sum(len(s) for u in plan.unit_plans for s in u.sends.values())


def test_halos_travel_through_their_maps_codec():
    arch = arch_of("fb", 33)
    tiles = tile_grid(arch.layout, 2, 2, 9, depth=1)
    part = np.zeros(arch.dag.graph.number_of_nodes(), dtype=int)
    half = CodecPlan(default=CodecChoice(name="fp16"))
    plan, raw = hybrid_plan(arch, tiles, part, 4, codecs=half), hybrid_plan(arch, tiles, part, 4)
    t = plan.tiling
    halo = next(key for key in t.parts if key[2] is not None)
    assert plan.codec_of(t.part(halo)).name == "fp16"
    crops = int(crop_bytes(arch, tiles).sum()) - image_bytes(arch)
    assert 2 * (plan.cut_bytes - crops) == raw.cut_bytes - crops  # halos and partial sums: half each
    stats = run(arch, plan, images=1, bound=1e-2)
    assert stats.peer_bytes / stats.inferences + stats.input_bytes / stats.inferences - image_bytes(arch) \
        == plan.cut_bytes


def test_stage_plan_by_hand():
    # image 8×8 → stem 8×8 → v0 (stride 2) 4×4 → v1 → output, one level per stage on 1×2 tiles
    from test_halo import hand_made

    arch = hand_made([(0, 1)], staged=[0])
    stem, out = arch.dag.input, arch.dag.output
    tiles = tile_grid(arch.layout, 1, 2, 4, depth=1)
    plan = hybrid_plan(arch, tiles, np.zeros(4, dtype=int), 2)
    t = plan.tiling
    left, right = plan.unit_plans
    halo = {key: t.part(key) for key in [(stem, 0, 1), (0, 0, 1), (0, 1, 0)]}
    assert left.sends == {halo[stem, 0, 1]: [1], halo[0, 0, 1]: [1]}  # its partial sum stays: unit 0 adds them
    assert right.sends == {halo[0, 1, 0]: [0], t.piece(0, 1): [0]}  # its partial sum goes to unit 0
    assert right.receives == {halo[stem, 0, 1]: 0, halo[0, 0, 1]: 0} and left.receives == {halo[0, 1, 0]: 1,
                                                                                         t.piece(0, 1): 1}
    assert left.preds[out] == [t.piece(0, 0), t.piece(0, 1)] and plan.output_unit == 0
    channels = arch.layout.out_shape[:, 0]
    assert plan.cut_bytes == (4 * (channels[stem] * 8 + channels[0] * 4 * 2)  # three halos, float32
                              + 4 * int(arch.layout.in_shape[out][0])  # one partial sum
                              + 3 * 8 * 5 * 4 + 3 * 8 * 5 * 4 - 3 * 8 * 8 * 4)  # the crops beyond one image
    for u in range(2):  # the worker's deployment check accepts every unit
        check_deployment({"spec": arch.spec.model_dump(mode="json"), "plan": plan.model_dump(mode="json"),
                          "unit": u, "peers": {w: {"address": f"inproc://{w}"} for w in range(2)}})


def test_a_stage_call_is_charged_the_copies_in_and_out_of_the_engines_layout():
    # the hand chain in stages of one level on 1×2 tiles (tests/test_halo.py)
    from parawire.latency.tiles import copied_bytes
    from test_halo import hand_made

    arch = hand_made([(0, 1)], staged=[0])
    stem, c = arch.dag.input, arch.layout.out_shape[:, 0]
    tiles = tile_grid(arch.layout, 1, 2, 4, depth=1)
    # stage 0, left: the 3×8×5 crop in; its stem region (8×4) and the right's halo (8×1) out
    assert copied_bytes(arch, tiles, 0, 0) == 4 * (3 * 40 + c[stem] * 32 + c[stem] * 8)
    # stage 1, left: the stem box it reads (8×4) in; v0's region (4×2) and a halo (4×1) out; no cut inside
    assert copied_bytes(arch, tiles, 0, 1) == 4 * (c[stem] * 32 + c[0] * 8 + c[0] * 4)
    slow, fast = (EDGE.model_copy(update={"memory_bytes_per_s": rate}) for rate in (1e8, 2e8))
    assert (tile_seconds(arch, tiles, fast) < tile_seconds(arch, tiles, slow)).all()


@pytest.mark.parametrize(("codec", "bound"), [("fp16", 1e-2), ("int8", 1e-1)])
def test_codecs_compose_with_tiles_and_the_workers_send_the_models_encoded_bytes(codec, bound):
    """Issue 24: the gather at the threshold may be encoded. Pieces go through their map's
    codec, the untiled vertices' messages through theirs, the crops stay float32; Λ
    (``cut_bytes``) counts exactly what the workers send, and the model charges it."""
    arch = arch_of("er", 33)
    tiles = tile_grid(arch.layout, 2, 2, 17)  # maps at 9 px stay untiled: the gather moves maps
    part = partitioned(arch, 4, free=tiles.tiled)
    codecs = CodecPlan(default=CodecChoice(name=codec))
    plan, raw = hybrid_plan(arch, tiles, part, 4, codecs=codecs), hybrid_plan(arch, tiles, part, 4)
    assert plan.codecs == codecs and plan.codec_of(plan.tiling.piece(0, 1)).name == codec
    halos = int(crop_bytes(arch, tiles).sum()) - image_bytes(arch)
    if codec == "fp16":  # everything but the crops is exactly half
        assert 2 * (plan.cut_bytes - halos) == raw.cut_bytes - halos
    assert plan.cut_bytes - halos <= 0.27 * (raw.cut_bytes - halos) or codec == "fp16"
    stats = run(arch, plan, images=1, bound=bound)  # int8's scales are per message: one image per message
    crops = stats.input_bytes / stats.inferences - image_bytes(arch)
    assert stats.peer_bytes / stats.inferences + crops == plan.cut_bytes
    slow = EDGE.model_copy(update={"bandwidth_bytes_per_s": 1e6})  # bytes dominate: fewer bytes, less time
    assert predicted_s(arch, plan, slow) < predicted_s(arch, raw, slow)


def test_a_per_map_codec_encodes_that_maps_pieces_only():
    arch = arch_of("er", 33)
    tiles = tile_grid(arch.layout, 2, 2, 17)  # maps at 9 px stay untiled: the gather moves maps
    part = partitioned(arch, 4, free=tiles.tiled)
    first = tiles.frontier[0]
    codecs = CodecPlan(vertices={first: CodecChoice(name="fp16")})
    plan, raw = hybrid_plan(arch, tiles, part, 4, codecs=codecs), hybrid_plan(arch, tiles, part, 4)
    t = plan.tiling
    assert [plan.codec_of(t.piece(0, tile)).name for tile in range(4)] == ["fp16"] * 4
    assert all(plan.codec_of(t.piece(a, 0)).raw for a in range(1, len(t.frontier)))
    assert plan.cut_bytes < raw.cut_bytes
    stats = run(arch, plan, images=1, bound=1e-2)
    crops = stats.input_bytes / stats.inferences - image_bytes(arch)
    assert stats.peer_bytes / stats.inferences + crops == plan.cut_bytes


def test_hybrid_placement_counts_the_codecs_bytes():
    # test_hybrid_wins_where_tiles_are_cheap_and_links_slow's chain, on a link where the gather costs
    arch = build_architecture(ArchitectureSpec(generator="chain", nodes=6, seed=0, base_channels=32,
                                               input_shape=(3, 64, 64), staging="uniform"))
    slow = EDGE.model_copy(update={"flops_per_s": 5e7, "bandwidth_bytes_per_s": 2e6})
    fp16 = CodecPlan(default=CodecChoice(name="fp16"))
    raw, coded = placed_plan(arch, 4, slow, "hybrid"), placed_plan(arch, 4, slow, "hybrid", codecs=fp16)
    assert coded.tiling is not None and coded.codecs == fp16 and raw.codecs.default.raw
    assert coded.predicted_latency_s < raw.predicted_latency_s
    assert predicted_s(arch, coded, slow) == pytest.approx(
        choose_placement(arch, 4, slow, "hybrid", codecs=fp16).predicted_s)


def test_codec_auto_replays_a_coded_tiling_as_the_workers_compute_it():
    """--codec auto checks a lossy tiled plan in one process before using it: each unit
    gathers its own piece as computed and the others' through the codec."""
    from parawire.calibration.codec_choice import coded_logits

    arch = arch_of("er", 33)
    tiles = tile_grid(arch.layout, 2, 2, 17)  # maps at 9 px stay untiled: the gather moves maps
    plan = hybrid_plan(arch, tiles, partitioned(arch, 4, free=tiles.tiled), 4,
                       codecs=CodecPlan(default=CodecChoice(name="int8")))
    x = torch.randn(1, *arch.spec.input_shape, generator=torch.Generator().manual_seed(1))
    net = build_network(arch).eval()
    with torch.inference_mode():
        exact = net(x)
    replay = coded_logits(arch, net, plan.partition, plan.codecs, x, plan.tiling)
    with LocalWorkers(4, "inproc") as w, Cluster.connect(w.endpoints, "inproc", timeout=60) as c:
        c.deploy(arch.spec, plan)
        out = c.infer(x)
    assert float((replay - out).abs().max()) <= 1e-6 * float(exact.abs().max()) < float((exact - out).abs().max())


def test_hybrid_on_onnxruntime_workers():
    arch = arch_of("dp", 35)
    tiles = tile_grid(arch.layout, 1, 2, 9)
    run(arch, hybrid_plan(arch, tiles, partitioned(arch, 2, free=tiles.tiled), 2), engine="onnxruntime")


def test_the_tile_stack_runs_on_onnx_runtime_at_any_batch():
    """Issue 24: with ORT the tiled prefix runs in ORT too (the engine's ``module`` hook,
    exported once per tile's crop shape), equal to the torch tile call."""
    from parawire.plugin import ModuleContext
    from parawire.registry.manager import get_plugins

    arch = arch_of("fb", 33)
    grid = tile_grid(arch.layout, 2, 2, 17)
    net = build_network(arch).eval()
    record = get_plugins().engines.get("onnxruntime")
    for tile, (r0, r1, c0, c1) in enumerate(grid.crops):  # tiles of unequal size: 33 rows and columns
        stack = TileStack(net, grid, tile)
        call = record.invoke(ModuleContext(stack, (torch.zeros(1, 3, r1 - r0, c1 - c0),), 1), {})
        x = torch.randn(2, 3, r1 - r0, c1 - c0, generator=torch.Generator().manual_seed(tile))
        with torch.inference_mode():
            want = stack(x)
        got = call([x])
        assert len(got) == len(want) == len(grid.frontier)
        for a, b in zip(got, want, strict=True):
            assert a.shape == b.shape and float((a - b).abs().max()) <= 1e-4 * float(b.abs().max())


@pytest.mark.parametrize(("generator", "size", "grid", "threshold", "depth"),
                         [("fb", 33, (2, 2), 9, 1), ("dp", 64, (1, 3), 16, None), ("ba", 40, (2, 3), 5, 2),
                          ("er", 33, (2, 1), 17, None)])
def test_the_hand_built_stage_graph_equals_the_torch_stage(generator, size, grid, threshold, depth):
    """ONNX Runtime runs a tile stage from parawire.engines.onnx_tiles (constant boxes,
    asymmetric conv pads, BatchNorm folded): the same parts as the torch stage. (Uneven
    pooling windows, as DP-35's, fall back to the exporter: test_hybrid_on_onnxruntime_workers.)"""
    from parawire.engines.onnx_tiles import stage_model
    from parawire.engines.ort import Session
    from parawire.network.tiled import run_tiles

    arch = arch_of(generator, size)
    tiles = tile_grid(arch.layout, *grid, threshold, depth)
    net = normalised(build_network(arch))
    x = torch.randn(2, *arch.spec.input_shape, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        parts = run_tiles(net, tiles, x)
    for k in range(len(tiles.stages)):
        for t, (r0, r1, c0, c1) in enumerate(tiles.crops):
            stack = TileStack(net, tiles, t, k)
            inputs = [x[..., r0:r1, c0:c1].contiguous()] * (k == 0) + [parts[key] for key in stack.reads]
            got = Session(stage_model(stack), 1).all(inputs)
            assert len(got) == len(stack.parts)
            for p, y in zip(stack.parts, got, strict=True):
                want = parts[p.map, p.src, p.dst]
                assert y.shape == want.shape and float((y - want).abs().max()) <= 1e-5 * float(want.abs().max())


@pytest.mark.slow
def test_hybrid_on_worker_processes():
    arch = arch_of("ws", 33)
    tiles = tile_grid(arch.layout, 2, 2, 17)  # maps at 9 px stay untiled: the gather moves maps
    run(arch, hybrid_plan(arch, tiles, partitioned(arch, 4, free=tiles.tiled), 4), transport="zmq")


def test_plan_shape_by_hand():
    arch = arch_of("dp", 35)
    tiles = tile_grid(arch.layout, 1, 2, 18)
    part = np.zeros(arch.dag.graph.number_of_nodes(), dtype=int)
    rest = [v for v in arch.dag.order if v not in tiles.tiled]
    part[rest[-1]] = 2  # the output vertex on unit 2, the rest of the untiled vertices on unit 0
    plan = hybrid_plan(arch, tiles, part, 3)
    t = plan.tiling
    n = arch.dag.graph.number_of_nodes()
    assert plan.input_units == [0, 1] and t.first_piece == n
    assert len(plan.partition) == n + 2 * len(t.frontier)
    zero, one, _ = plan.unit_plans
    pieces0 = [t.piece(a, 0) for a in range(len(t.frontier))]
    assert zero.vertices[:len(pieces0)] == pieces0 and all(zero.preds[p] == [-1] for p in pieces0)
    for a, f in enumerate(t.frontier):  # every frontier map gathered where an untiled vertex reads it
        holders = [u.unit for u in plan.unit_plans if f in u.vertices]
        assert holders == t.gathers[f]
        for u in holders:
            assert plan.unit_plans[u].preds[f] == [t.piece(a, 0), t.piece(a, 1)]
        assert one.sends.get(t.piece(a, 1)) == t.gathers[f]  # unit 1 gathers nothing: all its pieces leave
    assert not set(one.vertices) - set(range(n, n + 2 * len(t.frontier)))
    for u in range(3):  # the worker's deployment check accepts every unit
        check_deployment({"spec": arch.spec.model_dump(mode="json"), "plan": plan.model_dump(mode="json"),
                          "unit": u, "peers": {w: {"address": f"inproc://{w}"} for w in range(3)}})


def test_a_tiling_that_does_not_match_the_spec_is_refused():
    arch = arch_of("dp", 35)
    tiles = tile_grid(arch.layout, 1, 2, 9)
    plan = hybrid_plan(arch, tiles, partitioned(arch, 2, free=tiles.tiled), 2)
    t = plan.tiling.model_copy(update={"crops": [(0, 35, 0, 20), (0, 35, 15, 35)]})
    bad = plan.model_copy(update={"tiling": t, "unit_plans": [u.model_copy(update={"tiling": t})
                                                                for u in plan.unit_plans]})
    refused = pytest.raises(ParawireError, match="plan.tiling does not match the spec's layout; rebuild the plan")
    with LocalWorkers(2, "inproc") as w, Cluster.connect(w.endpoints, "inproc", timeout=20) as c, refused:
        c.deploy(arch.spec, bad)


def test_grid_larger_than_the_units_is_one_line():
    arch = arch_of("dp", 35)
    with pytest.raises(ParawireError, match="tile grid: 2×2 needs 4 units; the plan has 3"):
        hybrid_plan(arch, tile_grid(arch.layout, 2, 2, 9), np.zeros(arch.dag.graph.number_of_nodes(), int), 3)


def test_model_charges_halo_compute_gather_and_crops():
    arch = arch_of("dp", 64)
    tiles = tile_grid(arch.layout, 1, 2, 16)
    part = partitioned(arch, 2, free=tiles.tiled)
    plan = hybrid_plan(arch, tiles, part, 2)
    trace = Trace()
    inner = hybrid_latency(arch, tiles, part, EDGE, trace=trace)
    # one message per (piece or untiled vertex, receiving unit), as the plan sends them
    assert len(trace.transfers) == sum(len(s) for u in plan.unit_plans for s in u.sends.values())
    seconds = tile_seconds(arch, tiles, EDGE)
    tiled = list(tiles.tiled)
    whole = vertex_seconds(arch.dag, arch.costs.flops, arch.costs.out_bytes, EDGE, arch.costs.params)[tiled].sum()
    assert seconds.max() < whole < seconds.sum()  # each tile is faster; the halos cost extra in all
    crop = max(3 * (c[1] - c[0]) * (c[3] - c[2]) * 4 for c in tiles.crops)
    outer = hybrid_latency(arch, tiles, part, EDGE, source=True)
    assert outer >= inner + EDGE.idle_message_s(crop)


def test_placement_choices_include_one_device_and_never_lose_to_it():
    arch = arch_of("dp", 64)
    one = choose_placement(arch, 1, EDGE, "hybrid")
    assert one.grid is None and not one.partition.any()
    for placement in ("hybrid", "auto"):
        choice = choose_placement(arch, 4, EDGE, placement)
        assert choice.predicted_s <= one.predicted_s + 1e-12
    plan = placed_plan(arch, 4, EDGE, "auto")
    assert predicted_s(arch, plan, EDGE) == pytest.approx(choose_placement(arch, 4, EDGE, "auto").predicted_s)


def test_hybrid_wins_where_tiles_are_cheap_and_links_slow():
    # one chain of 3x3 blocks at 64 px: tiling the whole prefix moves only the last map
    arch = build_architecture(ArchitectureSpec(generator="chain", nodes=6, seed=0, base_channels=32,
                                               input_shape=(3, 64, 64), staging="uniform"))
    slow = EDGE.model_copy(update={"flops_per_s": 5e7})  # 0.65 s of compute against 31 ms of gather
    choice = choose_placement(arch, 4, slow, "hybrid")
    assert choice.grid is not None and choice.grid.tiles >= 2


def test_grids_and_partition_only_placements():
    assert grids(4) == [(1, 2), (2, 1), (1, 3), (3, 1), (1, 4), (2, 2), (4, 1)]
    arch = arch_of("dp", 35)
    with pytest.raises(ParawireError, match="placement 'hybrid' may tile the image, so it gives a plan"):
        place_architecture(arch, 2, EDGE, "hybrid")


def test_hybrid_and_auto_keep_one_device_unless_the_predicted_gain_reaches_min_gain():
    arch = build_architecture(ArchitectureSpec(generator="chain", nodes=6, seed=0, base_channels=32,
                                               input_shape=(3, 64, 64), staging="uniform"))
    slow = EDGE.model_copy(update={"flops_per_s": 5e7})  # tiles win (the test above)
    one = choose_placement(arch, 1, slow, "hybrid").predicted_s
    for placement in ("hybrid", "auto"):
        best = choose_placement(arch, 4, slow, placement, min_gain=1.0)
        gain = one / best.predicted_s
        assert gain > 1.01 and (best.grid is not None or best.partition.any())
        kept = choose_placement(arch, 4, slow, placement, min_gain=gain * 0.999)
        assert kept.predicted_s == best.predicted_s
        alone = choose_placement(arch, 4, slow, placement, min_gain=gain * 1.001)
        assert alone.grid is None and not alone.partition.any() and alone.predicted_s == pytest.approx(one)
    with pytest.raises(ParawireError, match=r"min_gain: got 0\.5; give a factor ≥ 1"):
        choose_placement(arch, 4, EDGE, "auto", min_gain=0.5)
