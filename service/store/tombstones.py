"""Tombstones: what an archived job was, where its history went and that it was removed.

Every statement on `tombstones` (and on `archived_counts`, their per-owner count) is
here. A tombstone is written, and the job removed with `archive_stream()`, in one
transaction (migrations/0015_tombstones.sql); the table is append-only.
"""

from datetime import datetime
from uuid import UUID

import msgspec
from psycopg import AsyncConnection, errors
from psycopg.pq import TransactionStatus


class ArchiveRefused(Exception):
    """archive_stream() would not remove the job: it changed since it was read (a late
    append), it is active again, or the tombstone does not describe it. Nothing was
    written or removed; the caller's transaction must be rolled back."""


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
    archived_at: datetime | None = None  # set by the database


COLUMNS = (
    "stream_id, owner, kind, status, events, first_position, last_position,"
    " chain_head, archive_name, archive_sha256, finished_at, archived_at"
)

LATEST = f"SELECT {COLUMNS} FROM tombstones WHERE stream_id = %(stream_id)s ORDER BY id DESC LIMIT 1"

INSERT = f"""
INSERT INTO tombstones ({COLUMNS.replace(", archived_at", "")})
VALUES (%(stream_id)s, %(owner)s, %(kind)s, %(status)s, %(events)s, %(first_position)s, %(last_position)s,
        %(chain_head)s, %(archive_name)s, %(archive_sha256)s, %(finished_at)s)
RETURNING archived_at
"""

# The latest tombstone of a stream that stays archived: none once a restore has brought its
# events back (the restored job is served as any other).
GONE = f"""
SELECT {COLUMNS} FROM tombstones t
 WHERE t.stream_id = %(stream_id)s
   AND NOT EXISTS (SELECT FROM events e WHERE e.stream_id = t.stream_id)
 ORDER BY t.id DESC LIMIT 1
"""

# Whether an archived job's events spanned a position: a scan of the tombstones, for the
# rare reader that resumes the global log from an event archived since (service/live).
SPANNED = """
SELECT EXISTS (SELECT FROM tombstones WHERE first_position <= %(position)s AND last_position >= %(position)s)
"""

REMOVE = "SELECT archive_stream(%(stream_id)s)"

# How many times the stream was archived before: names the next archive file.
ARCHIVED_BEFORE = "SELECT count(*) FROM tombstones WHERE stream_id = %(stream_id)s"

# Every tombstone in the order written, a page at a time (`jobtrail archive verify --all`).
PAGE = f"SELECT id, {COLUMNS} FROM tombstones WHERE id > %(after)s ORDER BY id LIMIT %(limit)s"

# Kept by a trigger on tombstones (migrations/0016_archived_counts.sql): one row per owner.
COUNT = "SELECT coalesce(sum(jobs), 0) FROM archived_counts WHERE %(owner)s::text IS NULL OR owner = %(owner)s"


def _tombstone(row: tuple) -> Tombstone:
    return Tombstone(**dict(zip(COLUMNS.replace(" ", "").split(","), row, strict=True)))


async def latest(conn: AsyncConnection, stream_id: UUID) -> Tombstone | None:
    """The stream's most recent tombstone, if it was ever archived."""
    row = await (await conn.execute(LATEST, {"stream_id": stream_id})).fetchone()
    return _tombstone(row) if row else None


async def gone(conn: AsyncConnection, stream_id: UUID) -> Tombstone | None:
    """The tombstone of a job that is archived now (not restored since), if any."""
    row = await (await conn.execute(GONE, {"stream_id": stream_id})).fetchone()
    return _tombstone(row) if row else None


async def spanned(conn: AsyncConnection, position: int) -> bool:
    """Whether `position` lay between the first and last positions of an archived job."""
    row = await (await conn.execute(SPANNED, {"position": position})).fetchone()
    return bool(row and row[0])


async def bury(conn: AsyncConnection, stone: Tombstone) -> int:
    """Write the tombstone and remove the job it describes; returns the events removed.

    Must run inside a transaction: archive_stream() accepts only a tombstone written in
    the same one, and refuses it unless it matches the stream as stored (count, positions,
    chain head) and the job is finished. On any refusal nothing is written or removed."""
    if conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:  # the pair would split
        raise RuntimeError("bury() needs an open transaction")
    params = msgspec.structs.asdict(stone)
    try:
        await conn.execute(INSERT, params)  # refused while the Merkle tree lacks an event (0018)
        row = await (await conn.execute(REMOVE, {"stream_id": stone.stream_id})).fetchone()
    except (errors.IntegrityConstraintViolation, errors.ObjectInUse, errors.ObjectNotInPrerequisiteState) as error:
        raise ArchiveRefused(str(error.diag.message_primary)) from None
    return int(row[0]) if row else 0


async def archived_before(conn: AsyncConnection, stream_id: UUID) -> int:
    """How many tombstones the stream has (0: it was never archived)."""
    row = await (await conn.execute(ARCHIVED_BEFORE, {"stream_id": stream_id})).fetchone()
    return int(row[0]) if row else 0


async def page(conn: AsyncConnection, after: int = 0, limit: int = 500) -> list[tuple[int, Tombstone]]:
    """(id, tombstone) of the tombstones written after the one with id `after`, oldest first."""
    rows = await (await conn.execute(PAGE, {"after": after, "limit": limit})).fetchall()
    return [(row[0], _tombstone(row[1:])) for row in rows]


async def count_archived(conn: AsyncConnection, owner: str | None = None) -> int:
    """Jobs archived at least once, of one owner or of all."""
    row = await (await conn.execute(COUNT, {"owner": owner})).fetchone()
    return int(row[0]) if row else 0
