"""What the audit tests share: a signer, the tree grown and checkpoints cut on a connection,
the audited app's parts, and the CLI run beside it."""

import asyncio
import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from litestar.testing import AsyncTestClient
from psycopg import AsyncConnection

from projections.checkpoints import Checkpoint
from projections.merkle_tree import MerkleTree
from projections.runner import catch_up
from service.audit.checkpoints import issue
from service.audit.signing_key import AuditSigner, signer_from
from service.cli import main
from service.clock import now
from tests.service.api.conftest import Keys, auth


def new_signer() -> AuditSigner:
    seed = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return signer_from(base64.b64encode(seed))


LEAFLESS = "SELECT 1 FROM events e WHERE NOT EXISTS (SELECT FROM merkle_leaves l WHERE l.position = e.position) LIMIT 1"


async def grow_over_everything(conn: AsyncConnection, deadline_s: float = 60.0) -> None:
    """Grow the tree until it holds every committed event. The runner reads only below the
    server's oldest open transaction, and on a shared server that may be another database's
    for a while: wait for it, generously."""
    async with asyncio.timeout(deadline_s):
        while True:
            await catch_up(conn, MerkleTree())
            if not await (await conn.execute(LEAFLESS)).fetchone():
                return
            await asyncio.sleep(0.05)


async def checkpoint_now(conn: AsyncConnection, signer: AuditSigner) -> Checkpoint:
    """Grow the tree over everything committed, then sign it (even if only checkpoints are new)."""
    await grow_over_everything(conn)
    checkpoint = await issue(conn, signer, now(), when_grew=False)
    assert checkpoint is not None
    return checkpoint


@dataclass
class Audited:
    client: AsyncTestClient
    keys: Keys
    signer: AuditSigner
    public_key: str  # base64
    job: str  # acme's, cancelled
    other_job: str  # globex's, cancelled


async def get_json(client: AsyncTestClient, path: str, key: str) -> dict:
    response = await client.get(path, headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()


async def cli(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))  # the CLI runs its own event loop
