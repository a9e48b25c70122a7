"""Importing PyTorch models: tracing, blocks, measured costs, errors (docs/models.md)."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest
import torch
from parawire.cli import main
from parawire.errors import ParawireError
from parawire.models import ModelSpec, import_model
from torch.utils.flop_counter import FlopCounterMode

ZOO = str(Path(__file__).with_name("model_zoo.py"))
EXAMPLES = ["resnet20", "cifarnet", "inception"]


def imported(factory: str, **fields):
    return import_model({"factory": factory, **fields})


def run_blocks(m, x: torch.Tensor) -> torch.Tensor:
    """Every block in topological order, in this process, as the workers would."""
    blocks = m.blocks()
    values: dict[int, torch.Tensor] = {}
    with torch.inference_mode():
        for v in m.dag.order:
            values[v] = blocks[v]([values[p] for p in m.dag.preds[v]] or [x])
    return values


@pytest.fixture(scope="module", params=EXAMPLES)
def example(request):
    return imported(f"parawire.models.examples:{request.param}")


def test_dag_has_one_input_and_one_output_vertex(example):
    dag = example.dag
    g = dag.graph
    assert nx.is_directed_acyclic_graph(g)
    assert sorted(g) == list(range(dag.nodes + 2))
    assert [v for v in g if g.in_degree(v) == 0] == [dag.input]
    assert [v for v in g if g.out_degree(v) == 0] == [dag.output]
    assert example.costs.flops[dag.input] == example.costs.flops[dag.output] == 0


def test_blocks_reproduce_the_model_and_their_measured_costs(example):
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    values = run_blocks(example, x)
    with torch.inference_mode():
        expected = example.model(x)
    assert torch.equal(values[example.dag.output], expected)
    for v, block in example.blocks().items():
        ins = [values[p] for p in example.dag.preds[v]] or [x]
        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            out = block(ins)
        assert counter.get_total_flops() == 2 * example.costs.flops[v], v
        assert out.numel() * out.element_size() == example.costs.out_bytes[v], v
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        example.model(x)
    assert 2 * example.costs.total_flops == counter.get_total_flops()
    assert example.costs.total_params == sum(p.numel() for p in example.model.parameters())


def test_output_bytes_agree_with_forward_hooks(example):
    """Blocks ending in a module call: the module's own output, seen by a forward hook."""
    seen: dict[str, int] = {}

    def record(name):
        def hook(module, inputs, output) -> None:
            seen.setdefault(name, output.numel() * output.element_size())
        return hook

    hooks = [mod.register_forward_hook(record(name))
             for name, mod in example.model.named_modules() if not list(mod.children())]
    with torch.inference_mode():
        example.model(torch.zeros(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    ends = {v: nodes[-1] for v, nodes in _members(example).items()}
    checked = 0
    for v, node in ends.items():
        target = str(node.target).removesuffix("_out_of_place").replace("_", ".")
        if node.op == "call_module" and target in seen:
            assert seen[target] == example.costs.out_bytes[v]
            checked += 1
    assert checked > 0


def _members(m):
    from parawire.models.subgraph import members_by_vertex

    return members_by_vertex(m.traced, m.assignment)


def test_shared_module_inplace_and_functional_calls_come_out_right():
    m = imported(f"{ZOO}:shared", input_shape=[3, 16, 16])
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected = m.model(x.clone())
    assert torch.equal(run_blocks(m, x)[m.dag.output], expected)
    # the shared conv is used by several blocks but its parameters count once
    shared = {id(p) for p in m.model.shared.parameters()}
    users = [v for v in range(m.dag.nodes) if shared & {id(t) for t in m._tensors[v].values()}]
    assert len(users) >= 2
    assert m.costs.total_params == sum(p.numel() for p in m.model.parameters())
    # the in-place ReLU was rewritten: the graph module holds no in-place node any more
    for node in m.traced.graph.nodes:
        assert not (node.op == "call_method" and str(node.target).endswith("_")), node
    assert m.model.relu.inplace is True  # the user's module is left as it was


@pytest.mark.parametrize("min_flops", [0, 200_000, 10**12])
def test_min_flops_merges_blocks_and_keeps_the_model_exact(min_flops):
    m = imported("parawire.models.examples:inception", min_flops=min_flops)
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(run_blocks(m, x)[m.dag.output], m.model(x))
    assert nx.is_directed_acyclic_graph(m.dag.graph)
    small = [v for v in range(m.dag.nodes) if m.costs.flops[v] < min_flops]
    if min_flops == 10**12:
        assert m.dag.nodes == 1  # everything merges into one block
    else:
        # a block stays small only when it has no predecessor block and several readers
        for v in small:
            assert len(m.dag.succs[v]) > 1 or m.dag.preds[v] == (m.dag.input,), v


def test_no_merge_gives_one_block_per_operator():
    merged = imported("parawire.models.examples:cifarnet")
    fine = imported("parawire.models.examples:cifarnet", merge_elementwise=False)
    assert fine.dag.nodes > merged.dag.nodes
    assert fine.costs.total_flops == merged.costs.total_flops


def test_forward_parameters_with_defaults_are_traced_at_their_default():
    m = imported(f"{ZOO}:defaults")
    assert [n.name for n in m.traced.graph.nodes if n.op == "placeholder"] == ["x"]
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(run_blocks(m, x)[m.dag.output], m.model(x))


@pytest.mark.slow  # torch.compile imports torch._dynamo: seconds
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # torch's own import
def test_a_compiled_model_is_traced_as_its_original_module():
    m = imported(f"{ZOO}:compiled")
    assert type(m.model) is torch.nn.Conv2d
    assert set(m.state_for(m.dag.order)) == {"weight", "bias"}  # the original's state_dict names
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(run_blocks(m, x)[m.dag.output], m.model(x))


@pytest.mark.parametrize(("factory", "message"), [
    ("untraceable", "torch.fx cannot trace submodule 'body.1' (Gate): TraceError: symbolically traced"),
    ("indexed_write", "does not support item assignment; write the indexed assignment out of place"),
    ("augmented", "the traced graph computes other values than forward"),
    ("constant", "forward returns a tensor that does not depend on its input"),
    ("scripted", "returned a TorchScript module (RecursiveScriptModule), which torch.fx cannot trace"),
    ("double", "its weights are torch.float64; parawire feeds torch.float32 images"),
    ("labels", "forward returns a torch.int64 tensor of shape (1,); parawire's result is a torch.float32 tensor"),
    ("scalar", "forward returns a torch.float32 tensor of shape (); parawire's result is a torch.float32"
               " tensor with the batch first"),
    ("two_outputs", "forward returns tuple; parawire runs models returning one tensor"),
    ("two_inputs", "forward takes 2 inputs (x, y); parawire feeds one image tensor"),
    ("not_a_module", "returned int; it must return a torch.nn.Module"),
    ("missing", "has no callable named 'missing'"),
])
def test_bad_models_give_one_line_errors(factory, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["score", "--model", f"{ZOO}:{factory}", "--units", "2"])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0] and message in errors[0], lines
    assert all(line.endswith("…") for line in lines[:-1]), lines  # announced phases only: no traceback


def test_an_input_shape_out_of_range_or_memory_is_one_line(capsys, monkeypatch):
    from parawire.models import imported as imported_module

    with pytest.raises(SystemExit) as exit_info:  # was an OverflowError traceback
        main(["show", "--model", "parawire.models.examples:resnet20", "--input-shape", "3", str(10**20), "3"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("every dimension of (C, H, W) must be between 1 and 65536")

    def no_memory(spec):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(imported_module, "sample_input", no_memory)  # a real 43 GB image would be the machine's end
    with pytest.raises(ParawireError, match=r"its \(3, 60000, 60000\) float32 input \(43,200,000,000 bytes\) does not"
                                            " fit in this machine's memory; check --input-shape"):
        import_model({"factory": "parawire.models.examples:resnet20", "input_shape": [3, 60000, 60000]})


@pytest.mark.parametrize(("ref", "message"), [
    ("no/such/file.py:make", "does not exist"),
    ("no_such_package_xyz.mod:make", "cannot import 'no_such_package_xyz.mod'"),
    ("just-a-name", "write FILE.py:FACTORY or package.module:FACTORY"),
])
def test_bad_references_are_named(ref, message):
    with pytest.raises(ParawireError, match=message):
        import_model({"factory": ref})


def test_spec_fields_are_validated():
    with pytest.raises(ParawireError, match="min_flops"):
        ModelSpec.parse({"factory": "a:b", "min_flops": -1})


def test_score_json_for_a_model(capsys):
    main(["score", "--model", "parawire.models.examples:inception", "--units", "2", "4", "8", "--eps", "0.1", "--json"])
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["units"] for r in rows] == [2, 4, 8]
    m = imported("parawire.models.examples:inception")
    assert all(len(r["partition"]) == m.dag.nodes + 2 for r in rows)


def test_show_json_for_a_model(capsys):
    main(["show", "--model", f"{ZOO}:shared", "--input-shape", "3", "16", "16", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["spec"]["input_shape"] == [3, 16, 16]
    assert data["stats"]["vertices"] == data["model"]["blocks"] + 2


def test_spec_file_and_model_are_exclusive(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["show", str(tmp_path / "x.json"), "--model", f"{ZOO}:shared"])
    assert "not both" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["score", "--units", "2"])
    assert "Missing argument 'SPEC_FILE' (or give --model" in capsys.readouterr().err


def critical_macs(m) -> int:
    """Multiply-adds on the heaviest input→output path of the block DAG."""
    reach: dict[int, int] = {}
    for v in m.dag.order:
        reach[v] = int(m.costs.flops[v]) + max([reach[p] for p in m.dag.preds[v]], default=0)
    return reach[m.dag.output]


@pytest.mark.parametrize(("factory", "shape", "parallel"), [
    ("parawire.models.examples:resnet20", (3, 32, 32), 1.0),
    ("parawire.models.examples:inception", (3, 32, 32), 1.9),  # four branches: 1.33× when a cat joined one
    ("parawire.models.examples:resnet18", (3, 64, 64), 1.0),
    (f"{ZOO}:shared", (3, 16, 16), 1.4),  # chunk branches and a parallel conv: 1.03× before
])
def test_merging_element_wise_nodes_never_lengthens_the_critical_path(factory, shape, parallel):
    merged = imported(factory, input_shape=list(shape))
    fine = imported(factory, input_shape=list(shape), merge_elementwise=False)
    assert merged.dag.nodes < fine.dag.nodes
    assert critical_macs(merged) == critical_macs(fine)
    assert merged.costs.total_flops / critical_macs(merged) >= parallel
