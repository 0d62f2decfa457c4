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
from projections import merkle_tree

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

# Finished jobs past their retention period, oldest finish first (retention: service/archive).
# The policy comes as arrays, one entry per kind with its periods; any other kind has the
# default ones; a NULL period keeps the job for ever. A failed ending (error, timeout) uses
# its own period, else the normal one. Only jobs that every global subscriber has read
# whole are taken: removing one a subscriber has yet to read would let it write a row
# (stats) for a job that is gone. The audit log's Merkle tree is not waited for: the
# archiver grows it over each job it takes (service/audit/archived.py `cover`), and
# waiting for it would end a run after the jobs the tree already held. A stream archived
# before and restored since is left alone unless asked for; `skip` names jobs this run
# already gave up on.
EXPIRED = """
WITH policy AS (
    SELECT * FROM unnest(%(kinds)s::text[], %(retain_s)s::float8[], %(retain_failed_s)s::float8[])
        AS p(kind, retain_s, retain_failed_s)
)
SELECT j.stream_id, j.owner, j.kind, j.status, j.finished_at, j.version
  FROM job_status j
  LEFT JOIN policy p ON p.kind = j.kind
 WHERE j.status IN ('completed', 'cancelled', 'error', 'timeout')
   AND j.finished_at <= %(now)s::timestamptz - make_interval(secs => CASE
         WHEN j.status IN ('error', 'timeout') THEN coalesce(
             CASE WHEN p.kind IS NULL THEN %(default_failed_s)s::float8 ELSE p.retain_failed_s END,
             CASE WHEN p.kind IS NULL THEN %(default_s)s::float8 ELSE p.retain_s END)
         ELSE CASE WHEN p.kind IS NULL THEN %(default_s)s::float8 ELSE p.retain_s END
       END)
   AND NOT (j.stream_id = ANY(%(skip)s::uuid[]))
   AND (%(include_restored)s OR NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.stream_id = j.stream_id))
   AND NOT EXISTS (
        SELECT 1 FROM events e, projection_checkpoints c
         WHERE e.stream_id = j.stream_id AND c.name <> %(grown_by_archiver)s
           AND (e.transaction_id, e.position) > (c.transaction_id, c.position))
 ORDER BY j.finished_at
 LIMIT %(limit)s
"""

# Jobs whose id lies in a range (a prefix of its hex digits, searched by the dashboard):
# a walk of the primary key, whoever the owner.
ID_RANGE = """
SELECT stream_id, state::text FROM job_status
 WHERE stream_id BETWEEN %(low)s AND %(high)s AND (%(owner)s::text IS NULL OR owner = %(owner)s)
 ORDER BY stream_id LIMIT %(limit)s
"""

# The jobs a schedule created, by their ids.
LOAD_MANY = "SELECT stream_id, state::text FROM job_status WHERE stream_id = ANY(%(stream_ids)s)"

# The live streams' lookup of the kinds of the jobs in a page of events.
KINDS = "SELECT stream_id, kind FROM job_status WHERE stream_id = ANY(%(stream_ids)s)"


class Expired(msgspec.Struct, frozen=True):
    stream_id: UUID
    owner: str
    kind: str
    status: str
    finished_at: datetime
    version: int


class RetentionPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Effective periods in seconds (None: for ever), as EXPIRED takes them: a failed
    period of None falls back to the normal one."""

    default_s: float | None
    default_failed_s: float | None
    kinds: dict[str, tuple[float | None, float | None]] = {}


def state_of(state: str | None) -> JobState:
    """A status row's state JSON, or INITIAL for a job that has no row (does not exist)."""
    return state_decoder.decode(state) if state else INITIAL


async def load(conn: AsyncConnection, stream_id: UUID) -> JobState:
    """The job's current state: its status row's snapshot, written with its last append."""
    found = await (await conn.execute(LOAD, {"stream_id": stream_id})).fetchone()
    return state_of(found[0] if found else None)


async def expired(
    conn: AsyncConnection,
    policy: RetentionPolicy,
    now: datetime,
    limit: int,
    *,
    skip: list[UUID] | None = None,
    include_restored: bool = False,
) -> list[Expired]:
    """Finished jobs past their retention period that every global subscriber has read."""
    params = {
        "kinds": list(policy.kinds),
        "retain_s": [normal for normal, _ in policy.kinds.values()],
        "retain_failed_s": [failed for _, failed in policy.kinds.values()],
        "default_s": policy.default_s,
        "default_failed_s": policy.default_failed_s,
        "now": now,
        "limit": limit,
        "skip": skip or [],
        "include_restored": include_restored,
        "grown_by_archiver": merkle_tree.NAME,
    }
    rows = await (await conn.execute(EXPIRED, params)).fetchall()
    return [Expired(*row) for row in rows]


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


async def in_id_range(
    conn: AsyncConnection, low: UUID, high: UUID, owner: str | None, limit: int
) -> list[tuple[UUID, JobState]]:
    """Jobs (of `owner`, or anyone's for None) whose id is between `low` and `high`, in id order."""
    params = {"low": low, "high": high, "owner": owner, "limit": limit}
    rows = await (await conn.execute(ID_RANGE, params)).fetchall()
    return [(stream_id, state_decoder.decode(state)) for stream_id, state in rows]


async def starting_with(conn: AsyncConnection, digits: str, limit: int) -> list[UUID]:
    """Up to `limit` job ids beginning with `digits` (lowercase hex, at most 32): what the CLI
    takes in place of a whole id. The digits bound a range of uuids (0s below, fs above) and
    PostgreSQL orders uuids as their hex reads, so this is a short range scan of the key."""
    low, high = UUID(digits.ljust(32, "0")), UUID(digits.ljust(32, "f"))
    return [stream_id for stream_id, _ in await in_id_range(conn, low, high, None, limit)]
