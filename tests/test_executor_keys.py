"""``parawire keys``: secrets readable by their owner only, existing keys never replaced silently."""

from __future__ import annotations

import stat

import pytest
from parawire.executor.security import Curve
from test_cli_generate import run  # the CLI as a user sees it: exit code, stdout, stderr


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secret_keys_are_written_owner_only_and_public_keys_readable(tmp_path, capsys):
    code, out, _ = run(capsys, "keys", str(tmp_path / "k"))
    assert code == 0 and "server.key_secret" in out
    d = tmp_path / "k"
    assert mode(d / "server.key_secret") == mode(d / "client.key_secret") == 0o600
    assert mode(d / "server.key") == mode(d / "client.key") == 0o644
    assert sorted(p.name for p in (d / "authorized").iterdir()) == ["client.key", "server.key"]
    assert sorted(p.name for p in d.iterdir()) == ["authorized", "client.key", "client.key_secret",
                                                   "owner.secret", "server.key", "server.key_secret"]
    assert mode(d / "owner.secret") == 0o600
    assert Curve.load(d / "server.key_secret", d / "authorized").secret


def test_existing_keys_are_kept_unless_forced(tmp_path, capsys):
    d = tmp_path / "k"
    run(capsys, "keys", str(d))
    before = {p.name: p.read_bytes() for p in d.glob("*.key*")}
    code, _, err = run(capsys, "keys", str(d))
    assert code == 2 and err.count("\n") == 1
    assert "already exists; keep the existing keys, or pass --force to replace them" in err
    assert {p.name: p.read_bytes() for p in d.glob("*.key*")} == before
    code, _, _ = run(capsys, "keys", str(d), "--force")
    after = {p.name: p.read_bytes() for p in d.glob("*.key*")}
    assert code == 0 and after.keys() == before.keys()
    assert all(after[name] != before[name] for name in before)
    assert (d / "authorized" / "server.key").read_bytes() == after["server.key"]
    assert mode(d / "server.key_secret") == 0o600


@pytest.mark.parametrize("only", ["authorized/client.key", "client.key"])
def test_any_one_existing_key_file_is_enough_to_refuse(tmp_path, capsys, only):
    d = tmp_path / "k"
    (d / "authorized").mkdir(parents=True)
    (d / only).write_text("mine")
    code, _, err = run(capsys, "keys", str(d))
    assert code == 2 and only in err and (d / only).read_text() == "mine"
