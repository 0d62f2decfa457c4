"""What the audit tests share: a signer, the tree grown and checkpoints cut on a connection."""

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from psycopg import AsyncConnection

from domain.merkle import leaf_hash
from projections.checkpoints import Checkpoint
from projections.merkle_tree import MerkleTree
from projections.runner import catch_up
from service.audit.checkpoints import issue
from service.audit.signing_key import AuditSigner, signer_from
from service.clock import now


def new_signer() -> AuditSigner:
    seed = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return signer_from(base64.b64encode(seed))


async def checkpoint_now(conn: AsyncConnection, signer: AuditSigner) -> Checkpoint:
    """Grow the tree over everything committed, then sign it (even if only checkpoints are new)."""
    await catch_up(conn, MerkleTree())
    checkpoint = await issue(conn, signer, now(), when_grew=False)
    assert checkpoint is not None
    return checkpoint


async def log_leaves(conn: AsyncConnection) -> list[bytes]:
    """The leaf hashes the log's events make, in the tree's order, from `events` as it stands."""
    rows = await (await conn.execute("SELECT hash FROM events ORDER BY transaction_id, position")).fetchall()
    return [leaf_hash(bytes(h)) for (h,) in rows]
