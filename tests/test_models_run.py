"""Imported models run distributed: worker processes over ZeroMQ, deployment checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from parawire.cli import main
from parawire.errors import ParawireError
from parawire.executor.coordinator import Cluster
from parawire.executor.local import LocalWorkers
from parawire.executor.plan import plan_for
from parawire.executor.tiles import placed_plan
from parawire.models import import_model, run_model
from parawire.models.deploy import deployment, deployment_builder, model_profile, unit_weights
from parawire.models.imported import sample_input
from parawire.models.subgraph import members_by_vertex
from parawire.pipeline.placement import partition_architecture
from parawire.score.hypergraph import hypergraph_of
from parawire.score.metrics import compute_metrics, longest_path_vertices

ZOO = str(Path(__file__).with_name("model_zoo.py"))
pytestmark = pytest.mark.filterwarnings("ignore::parawire.score.metrics.ImbalanceWarning")
MODELS = {
    "resnet20": ("parawire.models.examples:resnet20", (3, 32, 32)),
    "cifarnet": ("parawire.models.examples:cifarnet", (3, 32, 32)),
    "inception": ("parawire.models.examples:inception", (3, 32, 32)),
    "shared": (f"{ZOO}:shared", (3, 16, 16)),
}


@pytest.fixture(scope="module")
def workers():
    refs = [ref for ref, _ in MODELS.values()]
    with LocalWorkers(2, "zmq", "ipc", allow_models=refs) as w, Cluster.connect(w.endpoints, timeout=60) as c:
        yield c


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODELS))
def test_two_worker_processes_match_the_model_and_send_lambda_bytes(workers, name):
    ref, shape = MODELS[name]
    m = import_model({"factory": ref, "input_shape": list(shape)})
    part = partition_architecture(m, 2)
    assert len(set(part.tolist())) == 2
    plan = plan_for(m, part, units=2)
    workers.deploy(deployment(m), plan, unit_weights(m, plan))
    x = sample_input(m.spec)
    with torch.inference_mode():
        expected = m.model(x.clone())
    outs = workers.infer_many([x, x])
    assert max(float((o - expected).abs().max()) for o in outs) <= 1e-4
    km1 = compute_metrics(hypergraph_of(m), np.asarray(part), 2, eps=0.03,
                          longest_path=longest_path_vertices(m.dag)).km1
    assert workers.stats().bytes_per_inference == plan.cut_bytes == km1 > 0


def _in_threads(allow=()):
    return LocalWorkers(2, "inproc", allow_models=allow, builder=deployment_builder(allow))


def test_a_worker_refuses_a_factory_its_operator_did_not_allow():
    m = import_model({"factory": f"{ZOO}:shared", "input_shape": [3, 16, 16]})
    plan = plan_for(m, partition_architecture(m, 2), units=2)
    with _in_threads() as w, Cluster.connect(w.endpoints, "inproc", timeout=10) as c:
        with pytest.raises(ParawireError, match=r"is not allowed on this worker; start it with --allow-model"):
            c.deploy(deployment(m), plan, unit_weights(m, plan))


def test_a_worker_refuses_a_model_that_traces_differently():
    m = import_model({"factory": f"{ZOO}:shared", "input_shape": [3, 16, 16]})
    plan = plan_for(m, partition_architecture(m, 2), units=2)
    payload = deployment(m)
    payload["model"]["graph_sha256"] = "0" * 64
    with _in_threads([m.spec.factory]) as w, Cluster.connect(w.endpoints, "inproc", timeout=10) as c:
        with pytest.raises(ParawireError, match="traces to another program"):
            c.deploy(payload, plan, unit_weights(m, plan))


def test_weights_travel_with_the_deployment():
    """The workers' factory draws other weights (unseeded here); the coordinator's win."""
    m = import_model({"factory": f"{ZOO}:shared", "input_shape": [3, 16, 16]})
    with torch.no_grad():
        for p in m.model.parameters():
            p.add_(0.25)
    part = [i % 2 for i in range(m.dag.nodes + 2)]
    plan = plan_for(m, part, units=2)
    x = sample_input(m.spec)
    with _in_threads([m.spec.factory]) as w, Cluster.connect(w.endpoints, "inproc", timeout=10) as c:
        c.deploy(deployment(m), plan, unit_weights(m, plan))
        out = c.infer(x)
    with torch.inference_mode():
        assert torch.allclose(out, m.model(x), atol=1e-5)


def test_run_cli_json_reports_max_abs_diff(capsys):
    main(["run", "--model", f"{ZOO}:shared", "--input-shape", "3", "16", "16", "--local",
          "--transport", "inproc", "--units", "2", "--runs", "2", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["max_abs_diff"] <= 1e-4
    assert data["bytes_per_inference"] == data["cut_bytes"]


def test_non_persistent_buffers_and_plain_attributes_travel():
    """``position`` (non-persistent buffer) and ``noise`` (plain attribute) are drawn at
    random by every build: the workers get the coordinator's, not refused as weights."""
    m = import_model({"factory": f"{ZOO}:buffered", "input_shape": [3, 16, 16]})
    state = m.state_for(range(m.dag.nodes))
    assert {"scale", "@position", "@noise"} <= set(state)
    part = [i % 2 for i in range(m.dag.nodes + 2)]
    run = run_model(m, 2, transport="inproc", in_threads=True, partition=part, timeout=10)
    assert run.max_abs_diff <= 1e-6
    assert run.bytes_per_inference == run.cut_bytes


def test_a_worker_builds_the_edited_file_after_a_change(tmp_path):
    """The same ``--allow-model FILE.py:build`` on long-running workers: after an edit,
    the file is imported again (by content hash) and the new program deployed."""
    source = tmp_path / "edit_me.py"
    text = ("import torch\nfrom torch import nn\n\ndef build():\n    torch.manual_seed(0)\n"
            "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1){})\n")
    source.write_text(text.format(""))
    ref = f"{source}:build"
    with _in_threads([ref]) as w, Cluster.connect(w.endpoints, "inproc", timeout=10) as c:
        for extra in ("", ", nn.Flatten(), nn.Linear(2 * 6 * 6, 3)"):
            source.write_text(text.format(extra))
            m = import_model({"factory": ref, "input_shape": [3, 8, 8]})
            plan = plan_for(m, [i % 2 for i in range(m.dag.nodes + 2)], units=2)
            c.deploy(deployment(m), plan, unit_weights(m, plan))
            x = sample_input(m.spec)
            with torch.inference_mode():
                assert torch.allclose(c.infer(x), m.model(x), atol=1e-6)
    assert m.model(x).shape == (1, 3)


@pytest.mark.parametrize(("name", "shape"), [
    ("recurrent", (3, 8, 8)), ("encoder", (3, 16, 16)), ("buffered", (3, 16, 16)), ("unexportable", (3, 8, 8)),
])
def test_onnxruntime_workers_match_the_model(name, shape, caplog):
    """Each unit's runs of vertices exported to ONNX on the worker; a vertex whose
    operator has no ONNX form (``cummax``) stays on torch, said in one log line."""
    m = import_model({"factory": f"{ZOO}:{name}", "input_shape": list(shape)})
    part = partition_architecture(m, 2)
    with caplog.at_level("WARNING", logger="parawire.worker"):
        run = run_model(m, 2, transport="inproc", in_threads=True, partition=part, timeout=30, engine="onnxruntime")
    assert run.max_abs_diff <= 1e-5
    assert run.bytes_per_inference == run.cut_bytes
    fallbacks = [r.getMessage() for r in caplog.records if "no ONNX form" in r.getMessage()]
    if name == "unexportable":
        assert fallbacks and all("cummax" in f and "runs on torch" in f and "\n" not in f for f in fallbacks)
    else:
        assert not fallbacks


def test_onnxruntime_blocks_fuse_a_unit_into_one_session():
    from parawire.engines.ort import Session
    from parawire.executor.segments import Segment
    from parawire.models.deploy import model_blocks

    m = import_model({"factory": f"{ZOO}:shared", "input_shape": [3, 16, 16]})
    plan = plan_for(m, [0] * (m.dag.nodes + 2), units=1)
    unit = plan.unit_plans[0]
    blocks = model_blocks(deployment(m)["model"], unit, unit_weights(m, plan)[0], frozenset([m.spec.factory]),
                          "onnxruntime")
    (segment,) = [k for k in blocks if isinstance(k, Segment)]
    assert isinstance(blocks[segment].__self__, Session) and len(segment.vertices) == m.dag.nodes + 2
    x = sample_input(m.spec)
    (out,) = blocks[segment]([x])
    with torch.inference_mode():
        assert torch.allclose(out, m.model(x), atol=1e-5)


def test_score_and_run_partition_alike_and_print_the_same_lambda(capsys):
    """`score --model` weighs blocks by the time run's profile predicts: at run's ε its
    Λ is the partition run uses and the bytes it measures."""
    args = ["--model", f"{ZOO}:shared", "--input-shape", "3", "16", "16", "--units", "2"]
    main(["score", *args, "--eps", "0.03", "--json"])
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    main(["run", *args, "--local", "--transport", "inproc", "--runs", "2", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert row["metrics"]["km1"] == data["cut_bytes"] == data["bytes_per_inference"] > 0


# -- batch 1: an imported model's costs, Λ and ONNX sessions are per image --

@pytest.mark.parametrize("command", [["show"], ["score", "-u", "2"], ["run", "--local"],
                                     ["testbed", "run", "--devices", "1"]])
def test_a_batch_input_shape_is_refused_in_one_line_naming_the_option(capsys, command):
    with pytest.raises(SystemExit) as exc:
        main([*command, "--model", f"{ZOO}:shared", "--input-shape", "4", "3", "16", "16"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --input-shape 4 3 16 16: give one image's C H W") and "4 inferences" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("shape", [(2, 3, 16, 16), (1, 3, 24, 24)])
def test_run_model_refuses_anything_but_one_image_of_the_input_shape(shape):
    m = import_model({"factory": f"{ZOO}:shared", "input_shape": [3, 16, 16]})
    with pytest.raises(ParawireError, match=r"^x: shape .*one image of the model's input_shape, \(1, 3, 16, 16\)"):
        run_model(m, 2, transport="inproc", in_threads=True, x=torch.randn(*shape))



def test_run_model_places_blocks_as_run_does_and_moves_that_lambda(capsys):
    """Without ``partition=``, run_model places as ``run --model`` does (placed_plan,
    blocks weighed by the time the ``local`` torch profile predicts), not by FLOPs: its
    plan is the CLI's, and the bytes it measures are that plan's Λ and run's."""
    m = import_model({"factory": f"{ZOO}:shared", "input_shape": [3, 16, 16]})
    cli_plan = placed_plan(m, 2, model_profile("local", "torch"), "partition")
    run = run_model(m, 2, transport="inproc", in_threads=True, timeout=30)
    assert run.plan.partition == cli_plan.partition
    assert run.bytes_per_inference == run.cut_bytes == cli_plan.cut_bytes > 0
    main(["run", "--model", f"{ZOO}:shared", "--input-shape", "3", "16", "16", "--local",
          "--transport", "inproc", "--units", "2", "--runs", "1", "--json"])
    assert json.loads(capsys.readouterr().out)["cut_bytes"] == run.cut_bytes


def test_run_model_refuses_more_units_than_blocks_in_runs_words(capsys):
    m = import_model({"factory": f"{ZOO}:shared", "input_shape": [3, 16, 16]})
    n = m.dag.nodes
    with pytest.raises(ParawireError, match=rf"^units: got {n + 1}; .* use at most {n} units$") as exc:
        run_model(m, n + 1, transport="inproc", in_threads=True, timeout=10)
    assert "\n" not in str(exc.value)
    with pytest.raises(SystemExit):
        main(["run", "--model", f"{ZOO}:shared", "--input-shape", "3", "16", "16", "--local",
              "--units", str(n + 1)])
    assert capsys.readouterr().err.strip().splitlines()[-1] == f"error: --{exc.value}"


# -- attention heads as blocks of their own --

def _descendants(dag, v: int) -> set[int]:
    seen, stack = set(), [v]
    while stack:
        for s in dag.succs[stack.pop()]:
            if s not in seen:
                seen.add(s)
                stack.append(s)
    return seen


@pytest.mark.parametrize("engine", [None, "onnxruntime"])
def test_a_vit_like_attention_heads_are_independent_blocks_run_on_different_units(engine):
    """The encoder's first layer: each head (its q, k, v projections and its attention)
    is a branch no other head depends on; with the heads on different units the
    distributed output is the model's own, and the bytes are the partition's Λ."""
    m = import_model({"factory": f"{ZOO}:encoder", "input_shape": [3, 16, 16]})
    members = {v: [n.name for n in nodes] for v, nodes in members_by_vertex(m.traced, m.assignment).items()}
    attention = [v for v in m.dag.order if any(n.startswith("scaled_dot_product_attention") for n in members.get(v, []))]
    first = attention[:4]  # the first layer's four heads
    assert len(first) == 4
    for a in first:
        assert not _descendants(m.dag, a) & set(first)  # no head reads another
    part = [0] * (m.dag.nodes + 2)
    for h, v in enumerate(first):  # each head's branch on unit h % 2
        for u in [v, *m.dag.preds[v]]:
            part[u] = h % 2
    run = run_model(m, 2, transport="inproc", in_threads=True, partition=part, timeout=60, engine=engine)
    assert run.max_abs_diff <= 1e-5
    assert run.bytes_per_inference == run.cut_bytes > 0
