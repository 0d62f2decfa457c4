"""Archived jobs keep their leaves: the leaf indexes a tombstone recorded, and a live stream's.

A tombstone's leaf indexes are written by the database as the tombstone is
(migrations/0018_merkle_tree.sql), and a stream whose events are not all leaves yet cannot
be archived. The archiver writes the history with its proofs (projections/proofs.py
`signed_proofs`, then projections/export.py `export_lines`) before it buries the stream,
so the file proves inclusion against that checkpoint; `leaf_indexes` lets it (or anyone)
name the leaves, and consistency proofs carry them into every later checkpoint.
Every statement on `tombstone_leaves` is here.
"""

from uuid import UUID

from psycopg import AsyncConnection

from projections.log import read_stream
from projections.merkle_tree import leaf_indexes_at

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


async def archived_leaf_indexes(conn: AsyncConnection, stream_id: UUID) -> list[int] | None:
    """The leaf indexes the stream's latest tombstone recorded; None if it was never archived."""
    found = await (await conn.execute(RECORDED, {"stream_id": stream_id})).fetchone()
    return list(found[0]) if found else None
