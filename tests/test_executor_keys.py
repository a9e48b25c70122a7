"""``parawire keys``: secrets readable by their owner only, existing keys never replaced silently."""

from __future__ import annotations

import os
import stat

import pytest
from parawire.errors import ParawireError
from parawire.executor.security import Curve, generate_keys, load_owner_secret


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secret_keys_are_written_owner_only_and_public_keys_readable(tmp_path, cli):
    code, out, _ = cli("keys", str(tmp_path / "k"))
    assert code == 0 and "server.key_secret" in out
    d = tmp_path / "k"
    assert mode(d / "server.key_secret") == mode(d / "client.key_secret") == 0o600
    assert mode(d / "server.key") == mode(d / "client.key") == 0o644
    assert sorted(p.name for p in (d / "authorized").iterdir()) == ["client.key", "server.key"]
    assert sorted(p.name for p in d.iterdir()) == ["authorized", "client.key", "client.key_secret",
                                                   "owner.secret", "server.key", "server.key_secret"]
    assert mode(d / "owner.secret") == 0o600
    assert Curve.load(d / "server.key_secret", d / "authorized").secret


def test_existing_keys_are_kept_unless_forced(tmp_path, cli):
    d = tmp_path / "k"
    cli("keys", str(d))
    before = {p.name: p.read_bytes() for p in d.glob("*.key*")}
    code, _, err = cli("keys", str(d))
    assert code == 2 and err.count("\n") == 1
    assert "already exists; keep the existing keys, or pass --force to replace them" in err
    assert {p.name: p.read_bytes() for p in d.glob("*.key*")} == before
    code, _, _ = cli("keys", str(d), "--force")
    after = {p.name: p.read_bytes() for p in d.glob("*.key*")}
    assert code == 0 and after.keys() == before.keys()
    assert all(after[name] != before[name] for name in before)
    assert (d / "authorized" / "server.key").read_bytes() == after["server.key"]
    assert mode(d / "server.key_secret") == 0o600


@pytest.mark.parametrize("only", ["authorized/client.key", "client.key"])
def test_any_one_existing_key_file_is_enough_to_refuse(tmp_path, cli, only):
    d = tmp_path / "k"
    (d / "authorized").mkdir(parents=True)
    (d / only).write_text("mine")
    code, _, err = cli("keys", str(d))
    assert code == 2 and only in err and (d / only).read_text() == "mine"


def test_a_dangling_symlink_in_authorized_is_refused_and_its_target_never_created(tmp_path, cli):
    d = tmp_path / "k"
    (d / "authorized").mkdir(parents=True, mode=0o755)
    target = tmp_path / "elsewhere"
    (d / "authorized" / "client.key").symlink_to(target)
    code, _, err = cli("keys", str(d))
    assert code == 2 and "already exists" in err and not target.exists()


def test_force_replaces_a_symlink_itself_never_the_file_it_points_to(tmp_path, cli):
    d = tmp_path / "k"
    cli("keys", str(d))
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (d / "server.key").unlink()
    (d / "server.key").symlink_to(victim)
    code, _, _ = cli("keys", str(d), "--force")
    assert code == 0 and victim.read_text() == "precious"
    assert not (d / "server.key").is_symlink() and mode(d / "server.key") == 0o644


@pytest.mark.parametrize("where", ["", "authorized"])
def test_a_folder_others_can_write_is_refused(tmp_path, cli, where):
    d = tmp_path / "k"
    (d / "authorized").mkdir(parents=True, mode=0o755)
    (d / "authorized" / "planted.key").write_text("an attacker's key")
    (d / where).chmod(0o777)
    code, _, err = cli("keys", str(d))
    assert code == 2 and err.count("\n") == 1
    assert "owned or writable by someone else; use a folder only you can write (chmod go-w)" in err
    (d / "authorized").chmod(0o777)
    (d / "authorized" / "planted.key").unlink()
    code, _, _ = cli("keys", str(tmp_path / "mine"))
    (d / "authorized").chmod(0o777)  # and a worker does not trust such a folder either
    with pytest.raises(ParawireError, match="--curve-clients .* owned or writable by someone else"):
        Curve.load(tmp_path / "mine" / "server.key_secret", d / "authorized")


def test_a_symlinked_keys_folder_is_refused(tmp_path, cli):
    (tmp_path / "real").mkdir(mode=0o755)
    (tmp_path / "k").symlink_to(tmp_path / "real")
    code, _, err = cli("keys", str(tmp_path / "k"))
    assert code == 2 and "not a directory (symlinks are refused)" in err
    assert list((tmp_path / "real").iterdir()) == []


def test_public_keys_are_0644_whatever_the_umask(tmp_path, cli):
    old = os.umask(0o077)
    try:
        code, _, _ = cli("keys", str(tmp_path / "k"))
    finally:
        os.umask(old)
    d = tmp_path / "k"
    assert code == 0 and mode(d / "server.key") == mode(d / "authorized" / "client.key") == 0o644
    assert mode(d / "owner.secret") == 0o600


def test_an_owner_secret_others_can_read_is_refused(tmp_path, cli):
    paths = generate_keys(tmp_path / "k")
    assert len(load_owner_secret(paths["owner"])) == 32
    paths["owner"].chmod(0o644)
    code, _, err = cli("worker", "--owner-secret", str(paths["owner"]))
    assert code == 2 and "readable or owned by someone else; chmod 600 it as its owner" in err
