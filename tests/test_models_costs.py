"""Multiply-adds of imported models against formulas derived by hand from each model's
layout (not from PyTorch's FLOP counter, which misses fused attention and recurrent
kernels), and a tuple-returning module computed once (docs/models.md, *Costs*)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from parawire.models import import_model
from parawire.models.subgraph import members_by_vertex

ZOO = str(Path(__file__).with_name("model_zoo.py"))


def imported(factory: str, shape):  # type: ignore[no-untyped-def]
    return import_model({"factory": factory, "input_shape": list(shape)})


def test_transformer_encoder_layers_are_costed_and_separate_blocks():
    m = imported(f"{ZOO}:encoder", (3, 16, 16))
    embed = (4 * 4) * 32 * (3 * 4 * 4)  # output positions × channels × (Cin·k·k)
    length, dim, ff, heads = 16, 32, 64, 4
    attention = 4 * length * dim * dim + 2 * length * length * dim  # q, k, v, out projections; scores; values
    layer = attention + 2 * length * dim * ff
    assert m.costs.total_flops == embed + 2 * layer + dim * 5
    # each layer's feed-forward linears and every head's projections and attention are
    # blocks of their own, then the heads' output projection
    d = dim // heads
    head = [length * dim * d] * 3 + [2 * length * length * d]  # its q, k, v projections; scores and values
    per_layer = [*head * heads, length * dim * dim, length * dim * ff, length * ff * dim]
    assert sorted(int(f) for f in m.costs.flops if f) == sorted([embed, *per_layer * 2, dim * 5])


def test_multihead_attention_sequence_first_is_costed_per_head():
    m = imported(f"{ZOO}:sequence_first_attention", (3, 16, 16))
    length, dim, heads, kdim, vdim = 16, 16, 2, 8, 12
    d = dim // heads
    embed, keys, values = length * dim * 3 * 4 * 4, length * dim * kdim, length * dim * vdim
    head = length * dim * d + length * kdim * d + length * vdim * d + 2 * length * length * d
    assert m.costs.total_flops == embed + keys + values + heads * head + length * dim * dim + dim * 5


def test_matmul_sdpa_einsum_and_bmm_attention():
    m = imported(f"{ZOO}:attention", (3, 16, 16))
    length, dim = 16, 16
    embed = length * dim * 3 * 4 * 4
    qkv = length * 3 * dim * dim
    matmul = 2 * length * length * dim  # q·kᵀ, then · v
    assert m.costs.total_flops == embed + qkv + 3 * matmul + length * length * dim  # matmul, sdpa, einsum; bmm


def test_bilinear_mv_dot_addmv_and_addbmm_are_counted():
    m = imported(f"{ZOO}:products", (3, 4, 4))
    dim = 8
    fc = dim * 3 * 4 * 4
    bilinear = 2 * 4 * dim * dim  # nn.Bilinear and F.bilinear: each output, one product per (i, j) pair
    mv = 3 * dim * dim  # mv, Tensor.mv, addmv
    addbmm = 3 * dim * dim * dim  # three (dim × dim) @ (dim × dim), summed
    dots = 2 * dim + dim  # dot, Tensor.dot, the final matrix-vector @
    assert m.costs.total_flops == fc + bilinear + mv + addbmm + dots


def test_recurrent_layers_over_the_sequence_computed_once():
    m = imported(f"{ZOO}:recurrent", (3, 8, 8))
    steps, features, hidden = 8, 3 * 8, 12
    lstm = steps * 2 * (4 * hidden * (features + hidden) + 4 * hidden * (2 * hidden + hidden))  # 2 layers, 2 directions
    gru = steps * 3 * hidden * (2 * hidden + hidden)
    assert m.costs.total_flops == lstm + gru + 2 * hidden * 5
    # the LSTM's and the GRU's tuples are activations of one block each (sent packed)
    members = members_by_vertex(m.traced, m.assignment)
    owner = {n.target: v for v, nodes in members.items() for n in nodes if n.op == "call_module"}
    assert {"lstm", "gru"} <= set(owner) and set(m.packed) == {"lstm", "gru"}
    calls = []
    hook = m.model.lstm.register_forward_hook(lambda *_: calls.append(1))
    try:
        blocks = m.blocks()
        x = torch.randn(1, 3, 8, 8)
        values = {}
        with torch.inference_mode():
            for v in m.dag.order:
                values[v] = blocks[v]([values[p] for p in m.dag.preds[v]] or [x])
            expected = m.model(x)
    finally:
        hook.remove()
    assert len(calls) == 2  # once in the blocks, once in the reference call
    assert torch.allclose(values[m.dag.output], expected, atol=1e-6)
    reader_blocks = {v for v in m.dag.succs[owner["lstm"]] if v != m.dag.output}
    assert len(reader_blocks) >= 1 and m.costs.out_bytes[owner["lstm"]] == 4 * (steps * 2 * hidden + 2 * 2 * 2 * hidden)


@pytest.mark.slow
def test_resnet18_and_vit_tiny_at_224_match_their_textbook_counts():
    resnet = imported("parawire.models.examples:resnet18", (3, 224, 224))
    stem = 112 * 112 * 64 * 3 * 7 * 7
    stage1 = 4 * 56 * 56 * 64 * 64 * 9
    later = 0
    for size, c in ((28, 128), (14, 256), (7, 512)):
        later += size * size * c * (c // 2) * 9 + 3 * size * size * c * c * 9 + size * size * c * (c // 2)
    assert resnet.costs.total_flops == stem + stage1 + later + 512 * 1000 == 1_814_073_344
    vit = imported("parawire.models.examples:vit_tiny", (3, 224, 224))
    tokens, dim, mlp = 197, 192, 768
    layer = 4 * tokens * dim * dim + 2 * tokens * tokens * dim + 2 * tokens * dim * mlp
    assert vit.costs.total_flops == 196 * dim * 3 * 16 * 16 + 12 * layer + dim * 1000 == 1_253_683_200
    assert vit.dag.nodes >= 2 * 12  # attention and feed-forward of every layer apart
