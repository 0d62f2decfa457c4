"""Archived jobs keep their leaves: the leaf indexes a tombstone recorded, and a live stream's.

A tombstone's leaf indexes are written by the database as the tombstone is
(migrations/0018_merkle_tree.sql), and a stream whose events are not all leaves yet cannot
be archived. The archiver first waits for the tree (`cover`), then writes the history with
its proofs (projections/proofs.py `signed_proofs`, then projections/export.py
`export_lines`) before it buries the stream, so the file proves inclusion against that
checkpoint; consistency proofs carry it into every later checkpoint.
Every statement on `tombstone_leaves` is here.
"""

import asyncio
from uuid import UUID

from psycopg import AsyncConnection

from projections.log import read_stream
from projections.merkle_tree import MerkleTree, leaf_indexes_at
from projections.runner import catch_up_once

RECORDED = """
SELECT l.leaf_indexes FROM tombstone_leaves l JOIN tombstones t ON t.id = l.tombstone_id
 WHERE t.stream_id = %(stream_id)s ORDER BY t.id DESC LIMIT 1
"""


class LeavesPending(Exception):
    """Some of the stream's events have no leaf yet: the tree lags behind the log."""


async def leaf_indexes(conn: AsyncConnection, stream_id: UUID) -> list[int]:
    """The leaf index of each of a live stream's events, in version order."""
    events = await read_stream(conn, stream_id)
    found = await leaf_indexes_at(conn, [e.position for e in events])
    missing = [e.version for e in events if e.position not in found]
    if missing:
        raise LeavesPending(
            f"{len(missing)} events of {stream_id} are not yet in the Merkle tree (from version {missing[0]})"
        )
    return [found[e.position] for e in events]


async def cover(conn: AsyncConnection, stream_id: UUID, timeout_s: float = 30.0) -> list[int]:
    """Grow the tree until every event of the stream is a leaf; their leaf indexes.

    An archiver calls it before it buries a job, outside a transaction: the tree usually
    trails the log by a fraction of a second, but it reads only below the oldest open
    transaction, so a long one holds it back (LeavesPending after `timeout_s`)."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                try:
                    return await leaf_indexes(conn, stream_id)
                except LeavesPending:
                    if not await catch_up_once(conn, MerkleTree()):
                        await asyncio.sleep(0.05)
    except TimeoutError:
        raise LeavesPending(f"the Merkle tree did not reach the events of {stream_id} within {timeout_s:g} s") from None


async def archived_leaf_indexes(conn: AsyncConnection, stream_id: UUID) -> list[int] | None:
    """The leaf indexes the stream's latest tombstone recorded; None if it was never archived."""
    found = await (await conn.execute(RECORDED, {"stream_id": stream_id})).fetchone()
    return list(found[0]) if found else None
