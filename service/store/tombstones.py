"""Tombstones: what an archived job was, where its history went and that it was removed.

Every statement on `tombstones` is here. A tombstone is written, and the job removed with
`archive_stream()`, in one transaction (migrations/0015_tombstones.sql); the table is
append-only.
"""

from datetime import datetime
from uuid import UUID

import msgspec
from psycopg import AsyncConnection


class Tombstone(msgspec.Struct, frozen=True, kw_only=True):
    stream_id: UUID
    owner: str
    kind: str
    status: str
    events: int
    first_position: int
    last_position: int
    chain_head: bytes
    archive_name: str
    archive_sha256: bytes
    finished_at: datetime | None
    archived_at: datetime


COLUMNS = (
    "stream_id, owner, kind, status, events, first_position, last_position,"
    " chain_head, archive_name, archive_sha256, finished_at, archived_at"
)

LATEST = f"SELECT {COLUMNS} FROM tombstones WHERE stream_id = %(stream_id)s ORDER BY id DESC LIMIT 1"

COUNT = "SELECT count(DISTINCT stream_id) FROM tombstones WHERE %(owner)s::text IS NULL OR owner = %(owner)s"


def _tombstone(row: tuple) -> Tombstone:
    return Tombstone(**dict(zip(COLUMNS.replace(" ", "").split(","), row, strict=True)))


async def latest(conn: AsyncConnection, stream_id: UUID) -> Tombstone | None:
    """The stream's most recent tombstone, if it was ever archived."""
    row = await (await conn.execute(LATEST, {"stream_id": stream_id})).fetchone()
    return _tombstone(row) if row else None


async def count_archived(conn: AsyncConnection, owner: str | None = None) -> int:
    """Jobs archived at least once, of one owner or of all."""
    row = await (await conn.execute(COUNT, {"owner": owner})).fetchone()
    return int(row[0]) if row else 0
