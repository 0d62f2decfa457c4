"""What the audit tests share: a signer, the tree grown and checkpoints cut on a connection."""

import asyncio
import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from psycopg import AsyncConnection

from projections import merkle_tree
from projections.checkpoints import Checkpoint
from projections.merkle_tree import MerkleTree
from projections.runner import catch_up
from service.audit.checkpoints import issue
from service.audit.signing_key import AuditSigner, signer_from
from service.clock import now


def new_signer() -> AuditSigner:
    seed = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return signer_from(base64.b64encode(seed))


async def grow_over_everything(conn: AsyncConnection, deadline_s: float = 60.0) -> None:
    """Grow the tree until it holds every committed event. The runner reads only below the
    server's oldest open transaction, and on a shared server that may be another database's
    for a while: wait for it, generously."""
    async with asyncio.timeout(deadline_s):
        while True:
            await catch_up(conn, MerkleTree())
            (events,) = await (await conn.execute("SELECT count(*) FROM events")).fetchone()
            if await merkle_tree.tree_size(conn) == events:
                return
            await asyncio.sleep(0.05)


async def checkpoint_now(conn: AsyncConnection, signer: AuditSigner) -> Checkpoint:
    """Grow the tree over everything committed, then sign it (even if only checkpoints are new)."""
    await grow_over_everything(conn)
    checkpoint = await issue(conn, signer, now(), when_grew=False)
    assert checkpoint is not None
    return checkpoint
