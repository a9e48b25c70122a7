"""Issue 21, message classes beyond the table's rows, against real ``parawire worker``
processes with the same checks as ``test_executor_hostile.py`` (the owner is served
within 1 s afterwards, peak RSS within 2× the attack's bytes + 64 MiB, few log lines)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import zstandard
from parawire.errors import ParawireError
from parawire.executor.coordinator import Cluster
from parawire.executor.plan import plan_for
from parawire.executor.protocol import (
    MAX_JSON_BYTES,
    MAX_JSON_ELEMENTS,
    Kind,
    decode,
    encoded_frames,
    json_frames,
    scan_json,
)
from parawire.executor.security import generate_keys
from parawire.graph.spec import ArchitectureSpec
from parawire.pipeline.build import build_architecture
from parawire.pipeline.placement import partition_architecture
from parawire.registry.codecs import CodecChoice, CodecPlan, get_codec
from test_executor_hostile import SPEC, X, MiB, assert_bounded, assert_owner_served, attack, control, owner_shape
from test_executor_hostile import spawn  # noqa: F401  (the fixture)


@pytest.mark.slow
def test_a_utf16_deployment_cannot_hide_its_elements_from_the_scan(spawn):
    # U+2200 is the bytes 00 22 in UTF-16-LE: the scan sees a third quote and takes the
    # rest for a string, while json.loads (given bytes) would parse UTF-16 and build
    # 2.7 M lists from 16 MB (+218 MiB before the fix, over the 2× bound).
    text = '{"spec": {"x": ["\u2200", ' + "[]," * 2_700_000 + '0]}, "plan": {}, "unit": 0}'
    payload = text.encode("utf-16-le")
    assert len(payload) <= MAX_JSON_BYTES and scan_json(payload).elements < MAX_JSON_ELEMENTS
    worker = spawn()
    before = worker.reset_peak()
    seconds = attack(worker, [control(Kind.DEPLOY, payload, b"s" * 16),
                              control(Kind.DEPLOY, '{"unit": 0}'.encode("utf-16"), b"s" * 16)])
    assert_bounded(worker, before, len(payload))
    lines = worker.new_log_lines()
    assert lines and all("dropped a message: control payload is not JSON" in line for line in lines), lines
    assert len(lines) <= seconds + 2
    assert_owner_served([worker])


@pytest.mark.slow
def test_a_zstd_bomb_from_a_peer_is_refused_before_it_is_decoded(spawn):
    # A peer holding the session token sends an encoded activation whose 40 KB zstd frame
    # honestly decodes to 256 MiB, past the worker's parked budget: refused (its request
    # forgotten and reported) before anything is decompressed (+320 MiB before the fix).
    # A frame followed by more bytes is refused, not taken for its first frame.
    budget = 8 * MiB
    workers = [spawn("--max-parked-bytes", str(budget)) for _ in range(2)]
    arch = build_architecture(SPEC)
    codecs = CodecPlan(default=CodecChoice(name="zstd", params={"inner": "int8"}))
    plan = plan_for(arch, partition_architecture(arch, 2), units=2, codecs=codecs)
    vertex, producer = next(iter(plan.unit_plans[1].receives.items()))
    with Cluster.connect([w.endpoint for w in workers], timeout=20.0) as owner:
        owner.deploy(SPEC, plan)
        exact = owner.infer(X)
        honest = get_codec(codecs.default).encode(torch.ones(owner_shape(vertex)))
        channels, side = 64, 1024
        inner = np.ones(channels, np.float32).tobytes() + bytes(channels + channels * side * side)
        bomb = zstandard.ZstdCompressor(write_content_size=True).compress(inner)
        forged = [encoded_frames(frame, torch.float32, shape, request=5000 + i, vertex=vertex, unit=producer,
                                 session=owner.session)
                  for i, (frame, shape) in enumerate([(honest + honest, owner_shape(vertex)),
                                                      (bomb, (1, channels, side, side))])]
        before = workers[1].reset_peak()
        seconds = attack(workers[1], forged)
        assert_bounded(workers[1], before, sum(len(f[1]) for f in forged))
        lines = workers[1].new_log_lines()
        assert "unused data" in lines[0] and "request 5001 forgotten" in lines[1] and len(lines) <= 2 * seconds + 4
        with pytest.raises(ParawireError, match=rf"request 5001 forgotten: .* limit of {budget} bytes"):
            owner.infer(X)
        owner.deploy(SPEC, plan)
        assert torch.equal(owner.infer(X), exact)


def test_an_owner_proof_with_non_ascii_characters_is_a_wrong_proof(spawn, tmp_path):
    # hmac.compare_digest raised TypeError on it, and the refusal read "comparing strings
    # with non-ASCII characters is not supported" instead of naming the owner secret.
    keys = generate_keys(tmp_path / "keys")
    worker = spawn("--owner-secret", str(keys["owner"]))
    replies: list = []
    proofs = ["\u00e9" * 64, "\ud800", "0" * 64]
    attack(worker, [json_frames(Kind.DEPLOY, {"spec": {}, "plan": {}, "unit": 0, "owner": proof}, session=b"s" * 16)
                    for proof in proofs], settle=replies)
    errors = [decode(r).body["message"] for r in replies[:-1]]
    assert errors == ["deployment failed: this worker takes deployments only from its owner: connect with"
                      " owner_secret= the file given to its --owner-secret"] * len(proofs)
    assert_owner_served([worker], owner_secret=keys["owner"])


@pytest.mark.slow
def test_the_stats_of_a_400_vertex_unit_reach_the_coordinator(spawn):
    # A stats reply lists every task (about 50 bytes each): 21 KB here, over the 16 KiB
    # that the other small kinds get, so the coordinator dropped it and stats() timed out.
    spec = ArchitectureSpec(generator="chain", nodes=400, input_shape=(3, 8, 8), base_channels=4)
    arch = build_architecture(spec)
    plan = plan_for(arch, partition_architecture(arch, 1), units=1)
    worker = spawn()
    with Cluster.connect([worker.endpoint], timeout=20.0) as owner:
        owner.deploy(spec, plan, engine="torch")
        owner.infer(torch.zeros(1, 3, 8, 8))
        assert len(owner.stats().per_unit[0]["tasks"]) == 402
