"""Issue 21, message classes beyond the table's rows, against real ``parawire worker``
processes with the same checks as ``test_executor_hostile.py`` (the owner is served
within 1 s afterwards, peak RSS within 2× the attack's bytes + 64 MiB, few log lines)."""

from __future__ import annotations

import pytest
from parawire.executor.protocol import MAX_JSON_BYTES, MAX_JSON_ELEMENTS, Kind, scan_json
from test_executor_hostile import assert_bounded, assert_owner_served, attack, control
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
