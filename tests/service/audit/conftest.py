"""An app with a signing key, two owners' finished jobs and a first checkpoint; the API
tests' keys, one per owner and scope."""

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from litestar.testing import AsyncTestClient
from psycopg_pool import AsyncConnectionPool

from service.app import create_app
from service.audit.signing_key import signer_from
from service.settings import Settings
from tests.service.api.conftest import Keys, keys
from tests.service.api.test_audit import created_then_cancelled
from tests.service.audit.trees import Audited, checkpoint_now

__all__ = ["keys"]


@pytest.fixture
def seed() -> str:
    """A signing key's seed, base64: the form JOBTRAIL_AUDIT_KEY takes as a value."""
    return base64.b64encode(
        Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    ).decode()


@pytest.fixture
async def audited(
    database_url: str, tmp_path: Path, seed: str, keys: Keys, pool: AsyncConnectionPool, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Audited]:
    """The CLI sees the same database and key (its environment)."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("JOBTRAIL_AUDIT_KEY", seed)
    settings = Settings(database_url=database_url, data_dir=tmp_path, audit_key=seed)
    async with AsyncTestClient(app=create_app(settings, deliveries=False)) as client:
        other = await created_then_cancelled(client, keys.globex)
        job = await created_then_cancelled(client, keys.acme)
        signer = signer_from(seed.encode())
        async with pool.connection() as conn:
            await checkpoint_now(conn, signer)
        yield Audited(client, keys, signer, signer.public_text, job, other)
