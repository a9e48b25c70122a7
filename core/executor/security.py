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

* ``DIR/owner.secret``: 32 random bytes (hex) that make a coordinator the *owner* of the
  workers started with ``--owner-secret DIR/owner.secret``: they accept a deployment only
  with the HMAC of its session token under that secret (:func:`owner_proof`). This is
  what establishes ownership on loopback without CURVE, where every local user can reach
  the socket (docs/executor.md, threat model).

A folder prepared by someone else must not decide what gets written or trusted: ``DIR``
and ``DIR/authorized`` are refused when they are symlinks, not ours, or writable by
group or others; every file is created with ``O_EXCL | O_NOFOLLOW`` (a planted symlink
is never followed; with ``force`` an existing entry is unlinked first, never written
through), secret files with mode 0600 from their creation on, public ones 0644 whatever
the umask. Existing keys are never overwritten unless asked (``force``): replacing keys
silently would lock out every worker and coordinator using them. Workers refuse an
``authorized`` folder or an owner secret that others could change or read.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import stat
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
        if authorized is not None:
            check_private_dir(Path(authorized), "--curve-clients")
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


OWNER_SECRET = "owner.secret"
OWNER_SECRET_BYTES = 32


def owner_proof(secret: bytes, session: bytes) -> str:
    """What a deployment carries to prove its sender holds the worker's owner secret: an
    HMAC-SHA256 of its session token (fresh per deployment), never the secret itself."""
    return hmac.new(secret, b"parawire-deploy:" + session, hashlib.sha256).hexdigest()


def load_owner_secret(path: str | Path) -> bytes:
    """An owner secret file (``parawire keys`` writes one): ours, not a symlink, readable
    by us only, at least :data:`OWNER_SECRET_BYTES` bytes of hex."""
    path = Path(path)
    try:
        info = path.lstat()
    except OSError as exc:
        raise ParawireError(f"--owner-secret {path}: {exc.strerror}; make one with `parawire keys DIR`") from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        raise ParawireError(f"--owner-secret {path}: not a regular file (symlinks are refused)")
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ParawireError(f"--owner-secret {path}: readable or owned by someone else; chmod 600 it as its owner")
    try:
        secret = bytes.fromhex(path.read_text().strip())
    except ValueError:
        secret = b""
    if len(secret) < OWNER_SECRET_BYTES:
        raise ParawireError(f"--owner-secret {path}: expected {OWNER_SECRET_BYTES} bytes of hex;"
                            " make one with `parawire keys DIR`")
    return secret


def check_private_dir(path: Path, what: str) -> None:
    """Refuse a folder that someone else could change: a symlink, not ours, or writable by
    group or others (a key planted there would be trusted, a symlink would redirect writes)."""
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise ParawireError(f"{what} {path}: not a directory (symlinks are refused)")
    if info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise ParawireError(f"{what} {path}: owned or writable by someone else; use a folder only you can"
                            " write (chmod go-w), or a new one")


def _write_new(path: Path, text: str, mode: int, force: bool) -> None:
    """Create ``path`` with ``mode`` exactly (umask aside), never through a symlink; with
    ``force`` an existing entry (file or symlink) is unlinked first, never written through."""
    if force and os.path.lexists(path):
        path.unlink()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        raise ParawireError(f"{path} already exists; keep the existing keys, or pass --force to replace them") from None
    with os.fdopen(fd, "w") as f:
        os.fchmod(fd, mode)
        f.write(text)


def _certificate_text(public: bytes, secret: bytes | None = None) -> str:
    """A ZeroMQ certificate as ``zmq.auth.load_certificate`` reads it."""
    lines = ["#   ZeroMQ CURVE " + ("**Secret** Certificate" if secret else "Public Certificate") + " (parawire keys)",
             "metadata", "curve", f'    public-key = "{public.decode()}"']
    if secret:
        lines.append(f'    secret-key = "{secret.decode()}"')
    return "\n".join(lines) + "\n"


def generate_keys(directory: str | Path, force: bool = False) -> dict[str, Path]:
    """Write the server and client key pairs, the ``authorized`` directory and the owner
    secret; refuse to replace existing keys unless ``force``, and refuse folders others control."""
    import zmq

    directory = Path(directory)
    authorized = directory / "authorized"
    targets = {
        name: (directory / f"{name}.key_secret", directory / f"{name}.key", authorized / f"{name}.key")
        for name in ("server", "client")
    }
    owner = directory / OWNER_SECRET
    existing = [p for paths in targets.values() for p in paths if os.path.lexists(p)]
    existing += [owner] if os.path.lexists(owner) else []
    if existing and not force:
        raise ParawireError(
            f"{existing[0]} already exists; keep the existing keys, or pass --force to replace them"
            " (every worker and coordinator using them then needs the new ones)"
        )
    for folder in (directory, authorized):
        if not os.path.lexists(folder):
            folder.mkdir(mode=0o755, parents=folder is directory)
            os.chmod(folder, 0o755)
        check_private_dir(folder, "keys folder")
    paths: dict[str, Path] = {"authorized": authorized}
    for name, (secret_path, public_path, allowed) in targets.items():
        public, secret = zmq.curve_keypair()
        _write_new(secret_path, _certificate_text(public, secret), 0o600, force)
        _write_new(public_path, _certificate_text(public), 0o644, force)
        _write_new(allowed, _certificate_text(public), 0o644, force)
        paths[name], paths[f"{name}_public"] = secret_path, public_path
    _write_new(owner, secrets.token_hex(OWNER_SECRET_BYTES) + "\n", 0o600, force)
    paths["owner"] = owner
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
