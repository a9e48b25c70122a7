"""Tiles of imported models (parawire.models.tiling): exact maps from crops, what may
tile, the planner's choice, and distributed runs equal to the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from parawire.calibration.local import get_profile
from parawire.cli import main
from parawire.errors import ParawireError
from parawire.executor.plan import Tiling
from parawire.executor.tiles import hybrid_plan
from parawire.models.imported import ModelSpec, import_model, sample_input
from parawire.models.onnx import vertex_values
from parawire.models.run import run_model
from parawire.executor.coordinator import Cluster
from parawire.executor.local import LocalWorkers
from parawire.models.deploy import deploy_model
from parawire.score.hypergraph import image_bytes
from parawire.models.tiling import unit_tile_blocks
from parawire.network.tiled import gather
from parawire.pipeline.hybrid import MIN_GAIN, choose_placement, one_device

ZOO = str(Path(__file__).with_name("tile_zoo.py"))
GRIDS = [(1, 2), (2, 1), (2, 2), (1, 3), (3, 1), (2, 3)]
EXAMPLES = "parawire.models.examples"


def _import(factory: str, shape: tuple[int, int, int]):  # type: ignore[no-untyped-def]
    return import_model(ModelSpec(factory=factory, input_shape=shape))


def _tiled_maps(m, grid, x):  # type: ignore[no-untyped-def]
    """Every frontier map put together from the tiles' stacks run on their crops."""
    outs = []
    for t in range(grid.tiles):
        r0, r1, c0, c1 = grid.crops[t]
        with torch.no_grad():
            outs.append(m.tiles.stack(grid, t)(x[..., r0:r1, c0:c1]))
    return {f: gather([o[i] for o in outs], grid.rows, grid.cols) for i, f in enumerate(grid.frontier)}


@pytest.mark.parametrize(("factory", "shape"), [
    (f"{EXAMPLES}:resnet18", (3, 64, 64)),
    (f"{EXAMPLES}:resnet18", (3, 67, 75)),  # odd maps: tiles of unequal size at every stride
    (f"{EXAMPLES}:inception", (3, 33, 30)),
    (f"{ZOO}:mobilenet", (3, 37, 45)),
    (f"{ZOO}:dense", (3, 31, 33)),
    (f"{ZOO}:windows", (3, 29, 35)),
    (f"{ZOO}:unet", (3, 32, 32)),
    (f"{ZOO}:squeeze_excite", (3, 32, 32)),
    (f"{ZOO}:splits", (3, 33, 31)),
])
def test_the_tiles_maps_equal_the_whole_models_at_every_threshold_and_grid(factory, shape):
    m = _import(factory, shape)
    x = torch.randn(1, *shape, generator=torch.Generator().manual_seed(3))
    whole, _ = vertex_values(m.traced, x, m.assignment, m.dag.input, m.dag.output, m.packed)
    tried = 0
    for threshold in m.tile_thresholds():
        for rows, cols in GRIDS:
            try:
                grid = m.tile_grid(rows, cols, threshold)
            except ParawireError as exc:
                assert "use fewer tiles" in str(exc)
                continue
            tried += 1
            for f, got in _tiled_maps(m, grid, x).items():
                torch.testing.assert_close(got, whole[f], rtol=1e-5, atol=1e-6)
            # each tile computes more than its own share (the halo), never the whole map twice over
            assert all(c[1] - c[0] <= shape[1] and c[3] - c[2] <= shape[2] for c in grid.crops)
    assert tried >= len(GRIDS)


def test_a_crop_starts_on_the_cumulative_stride_of_the_prefix():
    # ResNet-18's prefix to its 28-px maps strides 8 (stem /2, max-pool /2, layer2 /2): the
    # lower tiles' receptive fields start at rows 61 and 21, their crops at 56 and 16
    m = _import(f"{EXAMPLES}:resnet18", (3, 224, 224))
    assert m.tile_grid(2, 2, 28).crops == ((0, 154, 0, 154), (0, 154, 56, 224), (56, 224, 0, 154), (56, 224, 56, 224))
    crops = m.tile_grid(3, 3, 28).crops
    assert {c[0] % 8 for c in crops} == {c[2] % 8 for c in crops} == {0}
    assert [c[0] for c in crops[::3]] == [0, 16, 88]


@pytest.mark.parametrize(("factory", "kept", "left"), [
    ("unet", {"e1_0", "e1_1", "e1_2", "e2_0"}, {"interpolate"}),  # upsampling to another map's size
    ("squeeze_excite", {"stem_0", "conv_0"}, {"mul", "mean"}),  # a global pool's gate
    ("positional", {"conv_0"}, {"add"}),  # a learned map: a crop would read the wrong part of it
    ("untileable", {"stem_0"}, {"norm", "same", "pool"}),  # group statistics, uneven "same", ceil mode
    ("windows", {"dilated", "avg_pool2d", "same", "conv2d", "max_pool2d", "point"}, set()),  # even "same" tiles
    ("subclassed", {"conv2d"}, {"add"}),  # ↓ channel splits tile; a split of the width does not
    ("splits", {"chunk", "getitem", "split", "getitem_2", "cat_1"}, {"chunk_1", "getitem_5"}),  # a conv subclass's own forward, traced into: its map added
])
def test_only_operators_local_in_space_may_tile(factory, kept, left):
    m = _import(f"{ZOO}:{factory}", (3, 32, 32))
    names = {n.name for n in m.tiles.windows}
    assert kept <= names and not left & names


@pytest.mark.parametrize("factory", ["positional", "untileable"])
def test_a_model_with_nothing_to_tile_says_so_in_one_line(factory):
    m = _import(f"{ZOO}:{factory}", (3, 32, 32))
    assert m.tile_thresholds() == []
    with pytest.raises(ParawireError, match="^tile threshold: got 32; no block with that many rows can be tiled$"):
        m.tile_grid(1, 2, 32)


def test_bad_grids_are_refused_in_one_line():
    m = _import(f"{ZOO}:mobilenet", (3, 40, 40))
    with pytest.raises(ParawireError, match="one fused stage"):
        m.tile_grid(1, 2, 10, depth=1)
    with pytest.raises(ParawireError, match="rows and cols must be at least 1"):
        m.tile_grid(0, 2, 10)
    with pytest.raises(ParawireError, match=r"6×6 does not fit vertex \d+'s 5×5 map; use fewer tiles"):
        m.tile_grid(6, 6, 5)


def test_a_worker_refuses_a_tiling_its_own_trace_does_not_give():
    m = _import(f"{ZOO}:mobilenet", (3, 40, 40))
    grid = m.tile_grid(2, 2, 10)
    plan = hybrid_plan(m, grid, np.zeros(m.dag.graph.number_of_nodes(), dtype=np.int64), 4)
    unit = plan.unit_plans[1]
    crops = [list(c) for c in unit.tiling.crops]
    crops[1][3] -= 1  # one column short: that tile would not compute its region
    forged = unit.model_copy(update={"tiling": Tiling(**{**unit.tiling.model_dump(), "crops": crops})})
    with pytest.raises(ParawireError, match="plan.tiling does not match the model's trace here; rebuild the plan"):
        unit_tile_blocks(m.tiles, forged)
    assert unit_tile_blocks(m.tiles, unit)  # the plan's own tiling builds


def test_the_planner_tiles_resnet18_on_switched_links_but_not_on_one_shared_medium():
    m = _import(f"{EXAMPLES}:resnet18", (3, 224, 224))
    shared = get_profile("edge")  # t2.micro-like, 100 Mbit/s on one medium: crops and gather queue on it
    switched = shared.model_copy(update={"network": "switched"})
    choice = choose_placement(m, 4, switched, "hybrid")
    assert choice.grid is not None and (choice.grid.rows, choice.grid.cols, choice.grid.threshold) == (2, 2, 28)
    assert choice.predicted_s * MIN_GAIN <= one_device(m, switched).predicted_s
    kept = choose_placement(m, 4, shared, "hybrid")
    assert kept.grid is None and kept.predicted_s == one_device(m, shared).predicted_s
    # the best tiling on the shared medium exists but gains less than the model can vouch for
    best = choose_placement(m, 4, shared, "hybrid", min_gain=1)
    assert best.grid is not None and 1 < kept.predicted_s / best.predicted_s < MIN_GAIN


@pytest.mark.slow
@pytest.mark.parametrize(("factory", "shape", "grid", "threshold", "engine"), [
    (f"{ZOO}:mobilenet", (3, 37, 45), (2, 2), 10, None),
    (f"{ZOO}:mobilenet", (3, 37, 45), (1, 3), 19, "onnxruntime"),
    (f"{EXAMPLES}:resnet18", (3, 67, 75), (2, 2), 9, "onnxruntime"),
])
def test_a_tiled_model_on_workers_computes_what_the_model_does(factory, shape, grid, threshold, engine):
    m = _import(factory, shape)
    tiles = m.tile_grid(*grid, threshold)
    partition = np.zeros(m.dag.graph.number_of_nodes(), dtype=np.int64)
    untiled = [v for v in m.dag.order if v not in set(tiles.tiled)]
    partition[untiled[len(untiled) // 2:]] = 1  # the rest split over two units after the gather
    plan = hybrid_plan(m, tiles, partition, grid[0] * grid[1])
    x = sample_input(m.spec)
    with torch.inference_mode():
        reference = m.model(x)
    with LocalWorkers(plan.units, allow_models=[m.spec.factory]) as workers, \
            Cluster.connect(workers.endpoints, timeout=120) as cluster:
        deploy_model(cluster, m, plan, engine=engine, timeout=120)
        out = cluster.infer(x)
        assert float((out - reference).abs().max()) <= 1e-4 * float(reference.abs().max())
        assert cluster.stats().lambda_bytes(image_bytes(m)) == plan.cut_bytes


@pytest.mark.slow
def test_run_places_an_imported_model_on_tiles_and_reports_them(capsys):
    main(["run", "--model", f"{EXAMPLES}:resnet18", "--input-shape", "3", "160", "160", "--local", "--units", "4",
          "--placement", "hybrid", "--profile", "lan", "--runs", "2", "--json"])
    report = json.loads(capsys.readouterr().out)
    tiling = report["tiling"]
    assert tiling is not None and tiling["grid"][0] * tiling["grid"][1] >= 2 and tiling["depth"] is None
    assert report["max_abs_diff"] <= 1e-4
    assert report["bytes_per_inference"] == report["cut_bytes"]


@pytest.mark.slow
def test_run_model_takes_the_placement_and_tiles_as_run_does():
    m = _import(f"{EXAMPLES}:resnet18", (3, 160, 160))
    run = run_model(m, 4, placement="hybrid", profile="lan", in_threads=True, timeout=120)
    assert run.plan.tiling is not None and run.plan.tiling.tiles >= 2
    assert run.max_abs_diff <= 1e-4 and run.bytes_per_inference == run.cut_bytes
    with pytest.raises(ParawireError, match="placement: got 'tiles'; use one of partition, schedule, hybrid, auto"):
        run_model(m, 4, placement="tiles")


def test_the_breakdown_charges_each_tile_call_its_stage_and_each_gather_nothing():
    from parawire.executor.tiles import plan_seconds
    from parawire.latency.model import vertex_seconds
    from parawire.latency.tiles import tile_seconds

    m = _import(f"{ZOO}:mobilenet", (3, 40, 40))
    edge = get_profile("edge")
    grid = m.tile_grid(2, 2, 10)
    plan = hybrid_plan(m, grid, np.zeros(m.dag.graph.number_of_nodes(), dtype=np.int64), 4)
    seconds = plan_seconds(m, plan, edge)
    whole = vertex_seconds(m.dag, m.costs.flops, m.costs.out_bytes, edge, m.costs.params)
    stages = tile_seconds(m, grid, edge)
    t = plan.tiling
    assert len(seconds) == t.first_piece + len(grid.parts)
    assert [seconds[v] for v in grid.tiled] == [0.0] * len(grid.tiled)
    assert all(seconds[v] == whole[v] for v in m.dag.order if v not in set(grid.tiled))
    for tile in range(4):  # one frontier map: each tile's call sends one part, charged its stage
        assert seconds[t.part((grid.frontier[0], tile, None))] == pytest.approx(stages[tile, 0])
        assert stages[tile, 0] > whole[list(grid.tiled)].sum() / 4  # the halo is paid


def test_a_tile_units_memory_estimate_holds_the_tiled_prefix():
    from parawire.models.deploy import deployment, model_bytes

    m = _import(f"{ZOO}:mobilenet", (3, 40, 40))
    grid = m.tile_grid(2, 2, 10)
    plan = hybrid_plan(m, grid, np.zeros(m.dag.graph.number_of_nodes(), dtype=np.int64), 4)
    payload = deployment(m)["model"]
    prefix = sum(int(m.costs.out_bytes[v]) for v in grid.tiled)
    for unit in plan.unit_plans[1:]:  # tile units that hold nothing else: the prefix's maps and the image
        assert model_bytes(payload, unit) == prefix + int(m.costs.out_bytes[m.dag.input])
