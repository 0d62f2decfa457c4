"""Issuing checkpoints, and the registry of the keys that signed them.

A checkpoint is issued in one transaction: read the last checkpoint (its version in the
checkpoints' stream) and the tree, sign the tree's size and root, append the checkpoint
at the next version. Two processes that decide at once both try the same version and
the stream's unique (stream_id, version) lets one of them in: the other's append is a
conflict and it issues nothing, so no tree size is ever signed twice. Every statement on
`audit_keys` is here.
"""

import base64
from datetime import datetime

import msgspec
from psycopg import AsyncConnection

from domain.checkpoint import CHECKPOINT_STREAM, CheckpointIssued, signed_text, timestamp
from projections import merkle_tree
from projections.checkpoints import Checkpoint, document
from projections.log import Metadata, latest_checkpoint
from service.audit.signing_key import AuditSigner
from service.store.event_store import ConcurrencyConflict, append_checkpoint

ACTOR = Metadata(actor="checkpoint issuer")

REGISTER_KEY = """
INSERT INTO audit_keys (key_id, public_key) VALUES (%(key_id)s, %(public_key)s) ON CONFLICT (key_id) DO NOTHING
"""
KEYS = "SELECT key_id, public_key, first_used FROM audit_keys ORDER BY first_used, key_id"


class AuditKey(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    public_key: str  # base64 of the raw 32 bytes
    algorithm: str = "Ed25519"
    current: bool
    first_used: datetime | None  # None: has signed nothing yet


async def issue(
    conn: AsyncConnection, signer: AuditSigner, now: datetime, *, when_grew: bool = True
) -> Checkpoint | None:
    """Sign the tree as it stands, unless nothing is new; None when no checkpoint was issued.

    With `when_grew` (the periodic issuer) only leaves other than checkpoints count as new,
    else a checkpoint would always find the previous one's leaf and issue another.
    """
    async with conn.transaction():
        latest = await latest_checkpoint(conn)
        version, signed_size = (latest[0], latest[1].tree_size) if latest else (0, 0)
        size = await merkle_tree.tree_size(conn)
        if size <= signed_size or (
            when_grew and not await merkle_tree.grew_beyond(conn, signed_size, CHECKPOINT_STREAM)
        ):
            return None
        root = (await merkle_tree.root(conn, size)).hex()
        issued_at = timestamp(now)
        signature = signer.sign(signed_text(size, root, issued_at, signer.key_id))
        event = CheckpointIssued(
            at=now, tree_size=size, root_hash=root, key_id=signer.key_id, signature=base64.b64encode(signature).decode()
        )
        try:
            async with conn.transaction():
                await append_checkpoint(conn, version, event, ACTOR)
        except ConcurrencyConflict:
            return None  # another process issued the next checkpoint first
        await conn.execute(REGISTER_KEY, {"key_id": signer.key_id, "public_key": signer.public_key})
    return document(event)


async def keys(conn: AsyncConnection, current: AuditSigner) -> list[AuditKey]:
    """Every key that signed a checkpoint, and the current one: retired keys still verify old ones."""
    rows = await (await conn.execute(KEYS)).fetchall()
    found = [
        AuditKey(
            key_id=key_id,
            public_key=base64.b64encode(public).decode(),
            current=key_id == current.key_id,
            first_used=used,
        )
        for key_id, public, used in rows
    ]
    if current.key_id not in {key.key_id for key in found}:
        found.append(AuditKey(key_id=current.key_id, public_key=current.public_text, current=True, first_used=None))
    return found
