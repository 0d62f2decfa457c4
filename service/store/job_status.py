"""Every read of job_status the service makes: one job, a keyset-paginated page, the
sweeper's overdue and stalled jobs, the kinds of some jobs; and `state_of`, the one
decoding of a status row's snapshot (a job without a row is INITIAL).

The table's statements have two homes, split where the dependency rule splits their
users (one module would also pass 300 lines): the projection's own (its row, the
rebuilds, the shadow twin, drift's read) are in projections/job_status.py, where
projections can import them; these serve only the service, so they live on its side.
A statement that reads a job beside another table's row belongs to that table's owner
(a key with its job: service/auth/keys.py; a delivery's recorded answer with its job:
the inbox's, service/store/event_store.py). The event store's append
upserts the row in the statement that appends the events (one round trip), and is the
one statement naming job_status anywhere else.
"""

import base64
from datetime import datetime
from uuid import UUID

import msgspec
from psycopg import AsyncConnection

from domain.state import INITIAL, JobState
from domain.state import decoder as state_decoder

LOAD = "SELECT state::text FROM job_status WHERE stream_id = %(stream_id)s"

PAGE = """
SELECT stream_id, created_at, state::text FROM job_status
 WHERE (%(owner)s::text IS NULL OR owner = %(owner)s)
   AND (%(status)s::text IS NULL OR status = %(status)s)
   AND (%(kind)s::text IS NULL OR kind = %(kind)s)
   AND (%(created_after)s::timestamptz IS NULL OR created_at > %(created_after)s)
   AND (%(created_before)s::timestamptz IS NULL OR created_at < %(created_before)s)
   AND (%(after_created_at)s::timestamptz IS NULL
        OR (created_at, stream_id) < (%(after_created_at)s, %(after_stream_id)s::uuid))
 ORDER BY created_at DESC, stream_id DESC
 LIMIT %(limit)s
"""

OVERDUE = """
SELECT stream_id FROM job_status
 WHERE status IN ('pending', 'processing') AND deadline <= %(now)s
 ORDER BY deadline LIMIT %(limit)s
"""

# Active, unmoved since `before`, and its last outbox row sent before that too.
STALLED = """
SELECT j.stream_id, j.version, (j.state ->> 'next_run')::integer, o.message_id
  FROM job_status j
  JOIN LATERAL (
        SELECT sent_at, message_id FROM outbox
         WHERE outbox.stream_id = j.stream_id ORDER BY id DESC LIMIT 1
       ) o ON true
 WHERE j.status IN ('pending', 'processing')
   AND j.updated_at < %(before)s
   AND o.sent_at < %(before)s
 ORDER BY j.updated_at LIMIT %(limit)s
"""

# The jobs a schedule created, by their ids.
LOAD_MANY = "SELECT stream_id, state::text FROM job_status WHERE stream_id = ANY(%(stream_ids)s)"

# The live streams' lookup of the kinds of the jobs in a page of events.
KINDS = "SELECT stream_id, kind FROM job_status WHERE stream_id = ANY(%(stream_ids)s)"


def state_of(state: str | None) -> JobState:
    """A status row's state JSON, or INITIAL for a job that has no row (does not exist)."""
    return state_decoder.decode(state) if state else INITIAL


async def load(conn: AsyncConnection, stream_id: UUID) -> JobState:
    """The job's current state: its status row's snapshot, written with its last append."""
    found = await (await conn.execute(LOAD, {"stream_id": stream_id})).fetchone()
    return state_of(found[0] if found else None)


async def load_many(conn: AsyncConnection, stream_ids: list[UUID]) -> dict[UUID, JobState]:
    """The states of these jobs, by id; a job without a row is left out."""
    rows = await (await conn.execute(LOAD_MANY, {"stream_ids": stream_ids})).fetchall()
    return {stream_id: state_of(state) for stream_id, state in rows}


async def overdue(conn: AsyncConnection, now: datetime, limit: int) -> list[UUID]:
    """Active jobs whose deadline has passed, the longest overdue first."""
    rows = await (await conn.execute(OVERDUE, {"now": now, "limit": limit})).fetchall()
    return [stream_id for (stream_id,) in rows]


async def stalled(conn: AsyncConnection, before: datetime, limit: int) -> list[tuple[UUID, int, int, str | None]]:
    """(stream_id, version, next run, last message id) of active jobs quiet since `before`."""
    return await (await conn.execute(STALLED, {"before": before, "limit": limit})).fetchall()


async def kinds_of(conn: AsyncConnection, stream_ids: list[UUID]) -> dict[UUID, str]:
    rows = await (await conn.execute(KINDS, {"stream_ids": stream_ids})).fetchall()
    return dict(rows)


class Filters(msgspec.Struct, frozen=True, kw_only=True):
    owner: str | None  # None: every owner (auditors)
    status: str | None = None
    kind: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


class BadCursor(Exception):
    """A pagination cursor this service did not issue."""


class _Cursor(msgspec.Struct, array_like=True):
    created_at: datetime
    stream_id: UUID


def encode_cursor(created_at: datetime, stream_id: UUID) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(_Cursor(created_at, stream_id))).decode().rstrip("=")


def decode_cursor(cursor: str) -> _Cursor:
    try:
        return msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)), type=_Cursor)
    except (ValueError, msgspec.DecodeError):
        raise BadCursor("the cursor is not one this service issued; start again without it") from None


async def page(
    conn: AsyncConnection, filters: Filters, limit: int, cursor: str | None
) -> tuple[list[tuple[UUID, JobState]], str | None]:
    """Newest first; the cursor continues strictly after the last row, stable under inserts."""
    after = decode_cursor(cursor) if cursor else None
    params = {
        **msgspec.structs.asdict(filters),
        "after_created_at": after.created_at if after else None,
        "after_stream_id": after.stream_id if after else None,
        "limit": limit + 1,
    }
    rows = await (await conn.execute(PAGE, params)).fetchall()
    jobs = [(stream_id, state_decoder.decode(state)) for stream_id, _, state in rows[:limit]]
    next_cursor = encode_cursor(rows[limit - 1][1], rows[limit - 1][0]) if len(rows) > limit else None
    return jobs, next_cursor
