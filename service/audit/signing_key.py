"""The key that signs checkpoints: JOBTRAIL_AUDIT_KEY, or a development key in the data dir.

The private key never reaches the database, so whoever can write the database as its
owner still cannot sign a checkpoint of a rewritten log. JOBTRAIL_AUDIT_KEY is a file's
path or the key itself: PEM (PKCS#8, as `jobtrail audit keygen` writes), or the base64 of
its 32-byte seed. Unset, a key is generated once into the data directory and kept there,
like the development API key; several processes starting at once agree on one file.
"""

import base64
import binascii
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from domain.checkpoint import encode_key, key_id_of
from service.settings import Settings, SettingsError

DEV_KEY_FILE = "audit-key.pem"


class AuditSigner:
    """Signs checkpoints; knows its public key and the key id checkpoints name it by."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_key = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = key_id_of(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    @property
    def public_text(self) -> str:
        return encode_key(self.public_key)

    def __repr__(self) -> str:  # never the private half
        return f"AuditSigner(key_id={self.key_id!r})"


def new_key_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def signer_from(text: bytes) -> AuditSigner:
    """A signer from PEM, or from the base64 of a 32-byte seed."""
    text = text.strip()
    if text.startswith(b"-----BEGIN"):
        try:
            key = load_pem_private_key(text, password=None)
        except (ValueError, TypeError):
            raise SettingsError("JOBTRAIL_AUDIT_KEY: not a readable, unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SettingsError("JOBTRAIL_AUDIT_KEY: the PEM key is not an Ed25519 key")
        return AuditSigner(key)
    try:
        seed = base64.b64decode(text, validate=True)
    except binascii.Error:
        seed = b""
    if len(seed) != 32:
        raise SettingsError("JOBTRAIL_AUDIT_KEY: neither a PEM Ed25519 key, the base64 of a 32-byte seed, nor a file")
    return AuditSigner(Ed25519PrivateKey.from_private_bytes(seed))


def load_signer(settings: Settings) -> AuditSigner:
    value = settings.audit_key
    if value is None:
        return signer_from(_dev_key(settings.data_dir / DEV_KEY_FILE))
    if value.startswith("-----BEGIN") or _is_seed(value):
        return signer_from(value.encode())
    try:
        return signer_from(Path(value).expanduser().read_bytes())
    except OSError as error:  # the value is not echoed: it may be a mistyped key
        raise SettingsError(
            "JOBTRAIL_AUDIT_KEY is neither a key (PEM, or base64 of a 32-byte seed)"
            f" nor a readable file: {error.strerror}"
        ) from None


def _is_seed(value: str) -> bool:
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except binascii.Error:
        return False


def _dev_key(path: Path) -> bytes:
    """The development key, created on first use: written whole under a temporary name and
    linked into place, which fails if another process linked its key first."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = new_key_pem()
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
        file.flush()
        os.fsync(file.fileno())
    try:
        os.link(temporary, path)
    except FileExistsError:
        pem = path.read_bytes()
    finally:
        temporary.unlink()
    return pem
