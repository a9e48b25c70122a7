"""Activation codecs: bytes, round trips and error bounds, hostile frames, and one value
(the encoded bytes) through the score, the latency model, the plan and the workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from parawire.errors import ParawireError, PluginError
from parawire.executor.codec_frames import Encoder, received
from parawire.executor.coordinator import Cluster
from parawire.executor.local import LocalWorkers
from parawire.executor.plan import plan_for
from parawire.executor.protocol import (
    FLAG_ENCODED,
    HEADER,
    Kind,
    ProtocolError,
    decode,
    tensor_frames,
)
from parawire.graph.spec import ArchitectureSpec
from parawire.latency.model import simulate
from parawire.latency.profiles import EDGE
from parawire.latency.wire import Wire
from parawire.network.nn import build_network
from parawire.pipeline.build import build_architecture
from parawire.pipeline.placement import partition_architecture
from parawire.pipeline.wire import CodecCost, wire_of
from parawire.registry.codecs import CodecChoice, CodecFrameError, CodecPlan, get_codec
from parawire.registry.manager import get_plugins
from parawire.score.hypergraph import hypergraph_of
from parawire.score.metrics import km1

SHAPE = (1, 64, 16, 16)
SIZED = ("raw", "fp16", "bf16", "int8")


def relu_like(shape=SHAPE, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.relu(torch.randn(shape, generator=g) * torch.linspace(0.1, 5, shape[1]).view(1, -1, 1, 1))


def round_trip(codec, x: torch.Tensor) -> torch.Tensor:
    return codec.decode(memoryview(codec.encode(x)).cast("B"), x.dtype, tuple(x.shape))


def test_builtin_codecs_are_registered_by_parawire():
    codecs = get_plugins().codecs
    assert set(codecs.names()) >= {*SIZED, "zstd"}
    assert {codecs.providers[n] for n in (*SIZED, "zstd")} == {"parawire"}


@pytest.mark.parametrize("name", SIZED)
def test_encoded_bytes_is_what_encode_sends(name):
    codec = get_codec(name)
    for shape in (SHAPE, (1, 1024, 2, 2), (2, 10), (0, 3)):
        x = torch.randn(shape)
        assert memoryview(codec.encode(x)).nbytes == codec.encoded_bytes(torch.float32, shape), shape


def test_half_precision_is_exactly_half_and_int8_at_most_027():
    raw = get_codec("raw").encoded_bytes(torch.float32, SHAPE)
    for name in ("fp16", "bf16"):
        assert 2 * get_codec(name).encoded_bytes(torch.float32, SHAPE) == raw
    assert get_codec("int8").encoded_bytes(torch.float32, SHAPE) <= 0.27 * raw
    # a 1024-channel 2×2 map: one scale for the tensor, not 1024 (still ≤ 0.27×)
    assert get_codec("int8").encoded_bytes(torch.float32, (1, 1024, 2, 2)) <= 0.27 * 1024 * 4 * 4


@pytest.mark.parametrize("choice", [CodecChoice(), CodecChoice(name="zstd"),
                                    CodecChoice(name="zstd", params={"inner": "raw", "level": 3})])
def test_exact_codecs_give_back_every_bit(choice):
    codec = get_codec(choice)
    x = relu_like()
    assert codec.exact
    assert torch.equal(round_trip(codec, x), x)


def test_int8_error_is_at_most_half_a_step_of_its_channel():
    codec = get_codec("int8")
    x = relu_like() - 0.3  # negative values too: the zero point is not 0
    step = (x.amax(dim=(0, 2, 3)).clamp(min=0) - x.amin(dim=(0, 2, 3)).clamp(max=0)) / 255
    error = (round_trip(codec, x) - x).abs().amax(dim=(0, 2, 3))
    assert not codec.exact
    assert (error <= step / 2 * (1 + 1e-4) + 1e-7).all()
    assert torch.equal(round_trip(codec, torch.zeros(SHAPE)), torch.zeros(SHAPE))


def test_half_precision_errors_are_relative():
    x = relu_like()
    for name, bits in (("fp16", 11), ("bf16", 8)):
        y = round_trip(get_codec(name), x)
        assert y.dtype == torch.float32
        assert ((y - x).abs() <= x.abs() * 2.0 ** -bits + 1e-7).all(), name


def test_zstd_shrinks_int8_and_keeps_its_error():
    x = relu_like()
    inner, packed = get_codec("int8"), get_codec("zstd", {"inner": "int8"})
    assert memoryview(packed.encode(x)).nbytes < memoryview(inner.encode(x)).nbytes
    assert torch.equal(round_trip(packed, x), round_trip(inner, x))
    assert not packed.exact and not packed.sized


def _int8_frame(scale: float) -> bytearray:
    frame = bytearray(get_codec("int8").encode(relu_like()))
    frame[:4] = np.float32(scale).tobytes()
    return frame


@pytest.mark.parametrize("name, frame, reason", [
    ("fp16", b"\0" * 10, "fp16 frame is 10 bytes; the shape needs 32768"),
    ("int8", b"\0" * 16703, "int8 frame is 16703 bytes; the shape needs 16704"),
    ("int8", _int8_frame(float("nan")), "scales must be finite"),
    ("int8", _int8_frame(0.0), "scales must be finite, > 0"),
    ("int8", _int8_frame(-1.0), "scales must be finite, > 0"),
    ("zstd", b"garbage", "zstd frame does not decompress"),
    ("zstd", __import__("zstandard").ZstdCompressor().compress(b"\0" * (1 << 20)),
     "zstd frame declares 1048576 bytes; the shape needs 65536"),
])
def test_hostile_frames_are_refused_with_one_line(name, frame, reason):
    with pytest.raises(CodecFrameError, match=reason) as info:
        get_codec(name).decode(memoryview(bytes(frame)), torch.float32, SHAPE)
    assert "\n" not in str(info.value)


def test_a_codec_is_chosen_by_name_and_validated_parameters():
    with pytest.raises(PluginError, match="unknown codec 'fp61'.*did you mean 'fp16'"):
        get_codec("fp61")
    with pytest.raises(ParawireError, match=r"codec_params\[int8\].group_min"):
        get_codec("int8", {"group_min": 0})
    with pytest.raises(ParawireError, match="inner: got 'zstd'"):
        get_codec("zstd", {"inner": "zstd"})


# -- the protocol and the worker's side --------------------------------------------------


def _encoded(codec_name="fp16", x=None, vertex=3):
    x = relu_like() if x is None else x
    encoder = Encoder({vertex: get_codec(codec_name)})
    return encoder, encoder.frames(x, request=1, vertex=vertex, unit=0, session=bytes(16)), x


def test_encoded_tensor_travels_and_is_decoded_with_the_plans_codec():
    encoder, frames, x = _encoded()
    msg = decode(frames)
    assert msg.tensor is None and msg.encoded.nbytes == x.numel() * 2
    assert torch.allclose(received(msg, encoder.codecs), x, rtol=2 ** -11, atol=0)
    again = encoder.frames(x, request=1, vertex=3, unit=1, session=bytes(16))
    assert again[1].obj is frames[1].obj  # encoded once for every unit it goes to


def test_a_message_coded_otherwise_than_the_plan_says_is_dropped():
    _, frames, x = _encoded()
    with pytest.raises(ProtocolError, match="encoded TENSOR for vertex 3; the plan sends it raw"):
        received(decode(frames), {})
    raw = decode(tensor_frames(Kind.TENSOR, x, request=1, vertex=3))
    with pytest.raises(ProtocolError, match="TENSOR for vertex 3 arrived raw; the plan encodes it"):
        received(raw, {3: get_codec("fp16")})
    with pytest.raises(ProtocolError, match="vertex 3: fp16 frame is 10 bytes"):
        received(decode([frames[0][:-24] + (10).to_bytes(8, "little") + frames[0][-16:], b"\0" * 10]),
                 {3: get_codec("fp16")})


def test_protocol_refuses_the_encoded_flag_elsewhere_and_huge_decoded_shapes():
    _, frames, _ = _encoded()
    fields = list(HEADER.unpack(frames[0]))
    fields[2] = int(Kind.INPUT)
    with pytest.raises(ProtocolError, match="only TENSOR FLAG_ENCODED"):
        decode([HEADER.pack(*fields), frames[1]])
    fields[2], fields[9] = int(Kind.TENSOR), 1 << 31
    with pytest.raises(ProtocolError, match="decodes beyond the message limit"):
        decode([HEADER.pack(*fields), frames[1]])
    assert fields[3] == FLAG_ENCODED


# -- one value through the score, the latency model and the plan ---------------------------


@pytest.fixture(scope="module")
def arch():
    return build_architecture(ArchitectureSpec(generator="dp", nodes=12, input_shape=(3, 32, 32), base_channels=16))


def plan_of(codec: str, **params) -> CodecPlan:
    return CodecPlan(default=CodecChoice(name=codec, params=params))


def test_wire_bytes_are_the_codecs_and_lambda_follows(arch):
    raw, half, int8 = (wire_of(arch, plan_of(c)) for c in ("raw", "fp16", "int8"))
    assert np.array_equal(raw.bytes, arch.costs.out_bytes)
    assert np.array_equal(2 * half.bytes, raw.bytes)
    part = partition_architecture(arch, 3)
    lam = {name: km1(hypergraph_of(arch, wire=w), part, 3) for name, w in (("raw", raw), ("fp16", half), ("int8", int8))}
    assert lam["raw"] > 0 and 2 * lam["fp16"] == lam["raw"] and lam["int8"] <= 0.27 * lam["raw"]
    assert plan_for(arch, part, units=3, codecs=plan_of("fp16")).cut_bytes == lam["fp16"]


def test_per_tensor_choice_overrides_the_default(arch):
    crossing = int(np.argmax(arch.costs.out_bytes[:-1]))
    codecs = CodecPlan(default=CodecChoice(name="fp16"), vertices={crossing: CodecChoice()})
    wire = wire_of(arch, codecs)
    assert wire.bytes[crossing] == arch.costs.out_bytes[crossing]
    assert 2 * wire.bytes[crossing - 1] == arch.costs.out_bytes[crossing - 1]


def test_latency_model_charges_encoded_bytes_and_codec_work(arch):
    costs = arch.costs
    part = partition_architecture(arch, 2)
    kw = {"params": costs.params, "policy": "ready"}
    raw = simulate(arch.dag, costs.flops, costs.out_bytes, part, EDGE, **kw)
    assert simulate(arch.dag, costs.flops, costs.out_bytes, part, EDGE, wire=Wire.raw(costs.out_bytes), **kw) == raw
    free = wire_of(arch, plan_of("int8"))
    assert simulate(arch.dag, costs.flops, costs.out_bytes, part, EDGE, wire=free, **kw) < raw
    slow = wire_of(arch, plan_of("int8"), cost=lambda c: CodecCost(encode_per_byte=1e3, decode_fixed=1e6))
    assert simulate(arch.dag, costs.flops, costs.out_bytes, part, EDGE, wire=slow, **kw) > raw
    with pytest.raises(ParawireError, match=r"wire.bytes: got 3 entries"):
        simulate(arch.dag, costs.flops, costs.out_bytes, part, EDGE, wire=Wire.raw(np.ones(3)))


# -- the workers encode and decode -----------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    with LocalWorkers(3, transport="inproc") as workers, \
            Cluster.connect(workers.endpoints, transport="inproc", timeout=20.0) as c:
        yield c


@pytest.mark.parametrize("codec, bound", [("raw", 1e-5), ("zstd", 1e-5), ("fp16", 1e-2), ("bf16", 5e-2),
                                          ("int8", 1e-1)])
def test_workers_send_exactly_the_encoded_lambda_within_the_codecs_bound(cluster, arch, codec, bound):
    part = partition_architecture(arch, 3)
    plan = plan_for(arch, part, units=3, codecs=plan_of(codec))
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        reference = build_network(arch).eval()(x)
    cluster.deploy(arch.spec, plan)
    out = cluster.infer(x)
    assert (out - reference).abs().max() <= bound * reference.abs().max()
    stats = cluster.stats()
    if get_codec(codec).sized:
        assert stats.bytes_per_inference == plan.cut_bytes
    else:  # a compressor's bytes depend on the data: the model's are an expectation
        assert 0 < stats.bytes_per_inference < km1(hypergraph_of(arch), part, 3)


def test_a_compressors_bytes_are_measured_on_the_crossings_the_workers_make(cluster, arch):
    # zstd's encoded_bytes is an expectation (0.76 of fp16 frames); place_sized measures
    # what the plan's own crossings compress to, so Λ is what the workers then send
    from parawire.calibration.codec_choice import calibration_set, place_sized

    codecs = plan_of("zstd", inner="fp16")
    net = build_network(arch).eval()
    xs = calibration_set(arch.spec.input_shape, 4, seed=0)
    sized, plan = place_sized(lambda c: plan_for(arch, partition_architecture(arch, 3, wire=wire_of(arch, c)),
                                                 units=3, codecs=c), arch, net, codecs, xs)
    assert set(sized.sizes) == set(range(len(arch.costs.out_bytes)))  # every output measured
    guessed = plan_for(arch, plan.partition, units=3, codecs=codecs).cut_bytes
    cluster.deploy(arch.spec, plan)
    before = cluster.stats()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))  # not a calibration image
    cluster.infer(x)
    after = cluster.stats()
    sent = (after.peer_bytes - before.peer_bytes) / (after.inferences - before.inferences)
    assert sent == pytest.approx(plan.cut_bytes, rel=0.01)
    assert abs(guessed / sent - 1) > 0.05  # the expectation alone is off
    fixed = plan_of("int8")  # a codec of fixed size is placed once, as given
    same = place_sized(lambda c: plan_for(arch, plan.partition, units=3, codecs=c), arch, net, fixed, xs)
    assert same[0] == fixed


def test_measured_sizes_are_bounded_in_the_plan():
    with pytest.raises(ValueError, match="sizes"):
        CodecPlan(sizes={3: 0.0})
    with pytest.raises(ValueError, match="sizes"):
        CodecPlan(sizes={3: float("nan")})
    with pytest.raises(ValueError, match="sizes"):
        CodecPlan(sizes={3: 1e9})
    assert CodecPlan(sizes={3: 0.5}).size_ratio(3) == 0.5 and CodecPlan().size_ratio(3) == 1.0


# -- --codec auto and the command line --------------------------------------------------------


def test_auto_keeps_the_exact_plan_where_links_are_fast_and_checks_lossy_ones(arch):
    from parawire.calibration.codec_choice import calibration_set, choose
    from parawire.latency.model import DeviceProfile

    net = build_network(arch).eval()
    xs = calibration_set(arch.spec.input_shape, 4)

    def place(codecs):
        return plan_for(arch, partition_architecture(arch, 2, wire=wire_of(arch, codecs)), units=2, codecs=codecs)

    free = lambda choice: CodecCost()
    fast = DeviceProfile(name="fast", flops_per_s=1e9, bandwidth_bytes_per_s=1e12, message_latency_s=0)
    codecs, _, report = choose(arch, net, fast, place, lambda c: CodecCost(encode_fixed=1e6), xs)
    assert codecs.default.raw and report[0]["accepted"] and report[0]["level"] == "exact"
    slow = DeviceProfile(name="slow", flops_per_s=1e12, bandwidth_bytes_per_s=1e5, message_latency_s=0)
    codecs, _, report = choose(arch, net, slow, place, free, xs, max_top1_change=1.0)
    assert report[0]["level"] == "8-bit" and report[0]["accepted"] and "top1_agreement" in report[0]
    codecs, _, report = choose(arch, net, slow, place, free, xs, max_top1_change=-1.0)
    assert [e["accepted"] for e in report] == [False, False, True] and codecs.default.label in ("raw", "zstd")


def test_the_accuracy_check_says_when_one_class_makes_top1_agreement_blind(arch):
    """An untrained generated network gives one class for every calibration image, so
    top-1 agreement cannot show a lossy codec's cost: the check counts the classes and
    says so; logits that do tell images apart give no caveat."""
    from parawire.calibration.codec_choice import calibration_set, compare, exact_logits

    reference = exact_logits(build_network(arch).eval(), calibration_set(arch.spec.input_shape, 8))
    accuracy = compare(reference, reference + 1e-3)
    assert accuracy.classes == 1 and accuracy.top1_agreement == 1.0
    assert "one top-1 class for all 8 check inputs" in accuracy.weak
    varied = torch.eye(8, 10)  # eight images, eight different classes
    assert compare(varied, varied).classes == 8 and compare(varied, varied).weak is None
    assert compare(varied, varied).to_dict()["classes"] == 8


def test_score_counts_encoded_bytes_and_refuses_auto(tmp_path, capsys):
    import json

    from parawire.cli import main

    spec = tmp_path / "arch.json"
    spec.write_text(ArchitectureSpec(generator="dp", nodes=12, base_channels=16).model_dump_json())
    lam = {}
    for codec in ("raw", "fp16"):
        main(["score", str(spec), "--units", "3", "--eps", "0.03", "--codec", codec, "--json"])
        document = json.loads(capsys.readouterr().out)  # issue 26: an object, its rows under "rows"
        assert document["codec"] == codec
        lam[codec] = document["rows"][0]["metrics"]["km1"]
    assert lam["raw"] == 2 * lam["fp16"] > 0
    with pytest.raises(SystemExit):
        main(["score", str(spec), "--units", "3", "--codec", "auto"])
    assert "--codec auto: only a run chooses codecs" in capsys.readouterr().err


def test_a_codec_goes_through_the_checked_invocation_path():
    """Issue 22's path: parameters resolved by the record (unknown names refused), the
    built object checked against the codec contract, errors naming the plugin."""
    from parawire.errors import SpecError
    from parawire.plugin import CodecPlugin, NoParams

    broken = CodecPlugin(name="half", summary="no decode", params=NoParams, factory=lambda: object())
    with pytest.raises(PluginError, match=r"codec 'half'.*without encode, decode, encoded_bytes, exact"):
        broken.invoke(None, {})
    with pytest.raises(SpecError, match=r"codec_params\[half\]"):
        broken.resolve({"level": 3})
    codec = get_codec("int8", {"group_min": 4})
    assert not codec.exact and codec.encoded_bytes(torch.float32, (1, 8, 4, 4)) > 0
