"""Signing secrets: made in the Standard Webhooks format, kept encrypted at rest.

Encrypted, not hashed: a webhook secret is an HMAC key that jobtrail itself must use to
sign every notification, so it has to be read back; a hash could only check a secret
someone presents. The key (Fernet: AES-128-CBC with HMAC-SHA256) comes from
JOBTRAIL_SECRETS_KEY, or else a file under the data directory made on first use, mode
0600. Several hosts must share JOBTRAIL_SECRETS_KEY (docs/notifications.md).
"""

import base64
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from service.settings import Settings, is_webhook_secret

__all__ = ["is_webhook_secret"]

PREFIX = "whsec_"
SECRET_BYTES = 32
KEY_FILE = "notification-secrets.key"


class UnreadableSecret(Exception):
    """A stored secret that the configured key cannot decrypt (the key changed)."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(sealed)).decode()
        except InvalidToken:
            raise UnreadableSecret("a stored webhook secret does not decrypt with the configured key") from None


def secret_box(settings: Settings) -> SecretBox:
    if settings.secrets_key is not None:
        return SecretBox(settings.secrets_key.encode())
    return SecretBox(_key_file(settings.data_dir / KEY_FILE))


def _key_file(path: Path) -> bytes:
    """The key kept in `path`, made there (0600, never overwritten) by the first process to
    need it: written whole to a private file, then linked into place, so no process reads half a key."""
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(Fernet.generate_key())
        file.flush()
        os.fsync(file.fileno())
    try:
        os.link(draft, path)
    except FileExistsError:  # another process made it first: theirs is the key
        pass
    finally:
        draft.unlink()
    return path.read_bytes().strip()
