"""ZeroMQ CURVE keys: who may talk to a worker, and the rule for where a worker may bind.

Why these rules: a worker executes whatever deployment it receives, so an open socket on a
public address is remote code steering. Workers therefore bind to loopback (or ipc)
unless given a CURVE secret key and a directory of authorised client public keys. With
keys, every connection is encrypted and ZAP (``zmq.auth.ThreadAuthenticator``) admits
only the listed clients: an unauthenticated peer's handshake fails before any message
reaches the worker, so it can neither deploy nor infer.

``parawire keys DIR`` writes a ready set-up (see :func:`generate_keys`):

* ``DIR/server.key`` / ``server.key_secret``: the workers' key pair (one shared by all
  workers keeps set-up simple; give each its own if you prefer, the coordinator takes one
  server key per endpoint);
* ``DIR/client.key`` / ``client.key_secret``: the coordinator's key pair;
* ``DIR/authorized/``: the public keys workers accept: the client's, and the server's
  own, because workers also connect to each other as clients to send activations.

Secret key files are readable by their owner only (mode 0600; written inside a private
temporary directory and moved into place, so they are never readable by others even
for a moment), and existing keys are never overwritten unless asked (``force``):
replacing keys silently would lock out every worker and coordinator using them.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from parawire.errors import ParawireError


@dataclass(frozen=True)
class Curve:
    """A key pair, plus (on a worker) the directory of authorised client public keys."""

    public: bytes
    secret: bytes
    authorized: Path | None = None

    @classmethod
    def load(cls, secret_file: str | Path, authorized: str | Path | None = None) -> Curve:
        """Read a ``*.key_secret`` certificate (as written by ``parawire keys``)."""
        public, secret = _certificate(secret_file)
        if secret is None:
            raise ParawireError(f"{secret_file}: holds no secret key; pass the *.key_secret file")
        if authorized is not None and not Path(authorized).is_dir():
            raise ParawireError(f"--curve-clients {authorized}: not a directory of *.key files")
        return cls(public, secret, Path(authorized) if authorized is not None else None)


def _certificate(path: str | Path) -> tuple[bytes, bytes | None]:
    import zmq.auth

    try:
        return zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:
        raise ParawireError(f"{path}: not a ZeroMQ certificate ({exc})") from None


def public_key(path_or_key: str | bytes | Path) -> bytes:
    """A server public key given as a certificate file or as the 40-character Z85 text."""
    if isinstance(path_or_key, bytes):
        return path_or_key
    if isinstance(path_or_key, str) and len(path_or_key) == 40 and not Path(path_or_key).exists():
        return path_or_key.encode()
    return _certificate(path_or_key)[0]


def generate_keys(directory: str | Path, force: bool = False) -> dict[str, Path]:
    """Write the server and client key pairs and the ``authorized`` directory; refuse to
    replace existing keys unless ``force``."""
    import zmq.auth

    directory = Path(directory)
    authorized = directory / "authorized"
    targets = {
        name: (directory / f"{name}.key_secret", directory / f"{name}.key", authorized / f"{name}.key")
        for name in ("server", "client")
    }
    existing = [p for paths in targets.values() for p in paths if p.exists()]
    if existing and not force:
        raise ParawireError(
            f"{existing[0]} already exists; keep the existing keys, or pass --force to replace them"
            " (every worker and coordinator using them then needs the new ones)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    authorized.mkdir(exist_ok=True)
    paths: dict[str, Path] = {"authorized": authorized}
    with tempfile.TemporaryDirectory(dir=directory, prefix=".keys-") as private:  # mode 0700
        for name, (secret, public, allowed) in targets.items():
            made_public, made_secret = map(Path, zmq.auth.create_certificates(private, name))
            os.chmod(made_secret, 0o600)
            os.chmod(made_public, 0o644)
            shutil.copyfile(made_public, allowed)
            os.replace(made_secret, secret)
            os.replace(made_public, public)
            paths[name], paths[f"{name}_public"] = secret, public
    return paths


LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


def is_local(address: str) -> bool:
    """True for ipc/inproc endpoints and tcp on a loopback address."""
    parts = urlsplit(address)
    if parts.scheme in {"ipc", "inproc"}:
        return True
    if parts.scheme != "tcp":
        return False
    host = parts.hostname or ""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(address: str, curve: Curve | None) -> None:
    """Refuse a non-loopback bind without CURVE keys (and a server without client keys)."""
    if curve is not None and curve.authorized is None:
        raise ParawireError("--curve-secret needs --curve-clients DIR (the authorised public keys)")
    if curve is None and not is_local(address):
        raise ParawireError(
            f"--bind {address}: not a loopback or ipc address; pass --curve-secret and"
            " --curve-clients (make them with `parawire keys DIR`) to serve beyond this host"
        )
