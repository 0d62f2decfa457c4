"""Reads of the job_status read model: one job, or a keyset-paginated page."""

import base64
from datetime import datetime
from uuid import UUID

import msgspec
from psycopg import AsyncConnection

from domain.state import JobState
from domain.state import decoder as state_decoder

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
