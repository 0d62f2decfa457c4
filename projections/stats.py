"""The stats read model: one narrow row per job, fed by the catch-up runner.

Health statistics are window queries over many jobs; answering them from `events` at
request time would read the whole log. This view keeps only what they need, folded
from the global log by `projections.runner` with its checkpoint in the same
transaction, so it is exactly as current as its checkpoint says and can be rebuilt
from zero at any time (`reset`, then `catch_up`).

Every statement on `job_stats` lives here: the fold's writes, and the window reads that
service/health/stats.py turns into figures. Each read is answered from an index (jobs
created or finished in the window, or processing without progress).
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec
from msgspec.structs import replace
from psycopg import AsyncConnection

from domain.events import (
    BatchRecorded,
    JobCancelled,
    JobCompleted,
    JobCreated,
    JobFailed,
    JobRequeued,
    JobStarted,
    JobTimedOut,
)
from domain.lifecycle import Status
from domain.streams import StreamKind, kind_of
from projections.log import RecordedEvent, present
from projections.runner import hold, rewind

NAME = "stats"

_FINISHED = {
    JobCompleted: Status.COMPLETED,
    JobFailed: Status.ERROR,
    JobTimedOut: Status.TIMEOUT,
    JobCancelled: Status.CANCELLED,
}


class JobStats(msgspec.Struct, frozen=True, kw_only=True):
    stream_id: UUID
    owner: str
    kind: str
    status: str
    version: int
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progressed_at: datetime
    duration_s: float | None = None


_FIELDS = JobStats.__struct_fields__

LOAD = """
SELECT stream_id, owner, kind, status, version, created_at, started_at, finished_at,
       progressed_at, duration_s
  FROM job_stats WHERE stream_id = ANY(%(stream_ids)s)
"""

# One statement for the whole round, one array per column.
UPSERT = """
INSERT INTO job_stats (stream_id, owner, kind, status, version, created_at, started_at,
                       finished_at, progressed_at, duration_s)
SELECT * FROM unnest(%(stream_id)s::uuid[], %(owner)s::text[], %(kind)s::text[],
                     %(status)s::text[], %(version)s::integer[], %(created_at)s::timestamptz[],
                     %(started_at)s::timestamptz[], %(finished_at)s::timestamptz[],
                     %(progressed_at)s::timestamptz[], %(duration_s)s::float8[])
ON CONFLICT (stream_id) DO UPDATE SET
    owner = EXCLUDED.owner,
    kind = EXCLUDED.kind,
    status = EXCLUDED.status,
    version = EXCLUDED.version,
    created_at = EXCLUDED.created_at,
    started_at = EXCLUDED.started_at,
    finished_at = EXCLUDED.finished_at,
    progressed_at = EXCLUDED.progressed_at,
    duration_s = EXCLUDED.duration_s
"""

CLEAR = "DELETE FROM job_stats"

# One query, two groupings: jobs created in the window by status and by kind.
COUNTS = """
SELECT status, kind, count(*) FROM job_stats
 WHERE created_at >= %(since)s AND (%(owner)s::text IS NULL OR owner = %(owner)s)
 GROUP BY GROUPING SETS ((status), (kind))
"""

# Jobs finished in the window, per kind; durations are of the completed ones.
FINISHED = """
SELECT kind,
       count(*),
       count(*) FILTER (WHERE status IN ('error', 'timeout')),
       count(*) FILTER (WHERE status = 'completed'),
       avg(duration_s) FILTER (WHERE status = 'completed'),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_s) FILTER (WHERE status = 'completed')
  FROM job_stats
 WHERE finished_at >= %(since)s AND (%(owner)s::text IS NULL OR owner = %(owner)s)
 GROUP BY kind ORDER BY kind
"""

# The window count is taken before LIMIT, so it counts every stuck job.
STUCK = """
SELECT count(*) OVER (), stream_id FROM job_stats
 WHERE status = 'processing' AND progressed_at < %(before)s
   AND (%(owner)s::text IS NULL OR owner = %(owner)s)
 ORDER BY progressed_at, stream_id LIMIT %(limit)s
"""

# Jobs finished in the window, per bucket of `step` counted from `origin` (the window's
# start): the overview's throughput and failure-rate charts. Empty buckets are absent.
FINISHED_SERIES = """
SELECT date_bin(%(step)s, finished_at, %(origin)s) AS bucket,
       count(*),
       count(*) FILTER (WHERE status IN ('error', 'timeout'))
  FROM job_stats
 WHERE finished_at >= %(origin)s AND (%(owner)s::text IS NULL OR owner = %(owner)s)
 GROUP BY bucket ORDER BY bucket
"""


def evolve(row: JobStats | None, recorded: RecordedEvent) -> JobStats | None:
    """The row after one event; events that change nothing counted here only move `version`."""
    event, at = recorded.event, recorded.event.at
    if isinstance(event, JobCreated):
        return JobStats(
            stream_id=recorded.stream_id,
            owner=event.owner,
            kind=event.kind,
            status=Status.PENDING,
            version=recorded.version,
            created_at=at,
            progressed_at=at,
        )
    if row is None:  # history is trusted: a stream begins with JobCreated
        return None
    row = replace(row, version=recorded.version)
    match event:
        case JobStarted():
            return replace(row, status=Status.PROCESSING, started_at=row.started_at or at, progressed_at=at)
        case BatchRecorded():
            return replace(row, progressed_at=at)
        case JobRequeued():
            return replace(row, status=Status.PENDING, finished_at=None, duration_s=None, progressed_at=at)
        case JobCompleted() | JobFailed() | JobTimedOut() | JobCancelled():
            duration = (at - row.created_at).total_seconds()
            return replace(row, status=_FINISHED[type(event)], finished_at=at, duration_s=duration)
    return row


class StatsProjection:
    """A runner Subscriber: loads the rows a round touches, folds, writes them in one go."""

    name = NAME

    async def apply(self, conn: AsyncConnection, events: Sequence[RecordedEvent]) -> None:
        events = [event for event in events if kind_of(event.event) is StreamKind.JOB]  # schedules have no row
        if not events:
            return
        stream_ids = list(dict.fromkeys(event.stream_id for event in events))
        cursor = await conn.execute(LOAD, {"stream_ids": stream_ids})
        rows: dict[UUID, JobStats | None] = {
            row[0]: JobStats(**dict(zip(_FIELDS, row, strict=True))) for row in await cursor.fetchall()
        }
        for event in events:
            row = rows.get(event.stream_id)
            if row is None or event.version > row.version:  # a version already folded is skipped
                rows[event.stream_id] = evolve(row, event)
        changed = [row for row in rows.values() if row is not None]
        if changed:  # a job archived since its events were read is not written back
            kept = await present(conn, [row.stream_id for row in changed])
            changed = [row for row in changed if row.stream_id in kept]
        if changed:
            columns = {field: [getattr(row, field) for row in changed] for field in _FIELDS}
            await conn.execute(UPSERT, columns)


async def reset(conn: AsyncConnection) -> None:
    """Empty the view and rewind its checkpoint, so the next catch-up rebuilds it from zero.

    The checkpoint row is locked first: a runner in another process waits for the reset
    instead of folding events into a view that is being emptied.
    """
    async with conn.transaction():
        await hold(conn, NAME)
        await conn.execute(CLEAR)
        await rewind(conn, NAME)


async def created_counts(conn: AsyncConnection, since: datetime, owner: str | None) -> list[tuple[Any, ...]]:
    """(status, None, count) and (None, kind, count) rows of the jobs created since `since`."""
    return await (await conn.execute(COUNTS, {"since": since, "owner": owner})).fetchall()


async def finished_by_kind(conn: AsyncConnection, since: datetime, owner: str | None) -> list[tuple[Any, ...]]:
    """(kind, finished, failed, completed, avg_s, p95_s) per kind, for jobs finished since `since`."""
    return await (await conn.execute(FINISHED, {"since": since, "owner": owner})).fetchall()


async def stuck_since(conn: AsyncConnection, before: datetime, owner: str | None, limit: int) -> list[tuple[Any, ...]]:
    """(count of all, stream_id) of the processing jobs without progress since `before`, longest first."""
    params = {"before": before, "owner": owner, "limit": limit}
    return await (await conn.execute(STUCK, params)).fetchall()


async def finished_series(
    conn: AsyncConnection, origin: datetime, step: timedelta, owner: str | None
) -> list[tuple[datetime, int, int]]:
    """(bucket start, finished, failed) for each bucket of `step` since `origin` that has a finished job."""
    params = {"origin": origin, "step": step, "owner": owner}
    return await (await conn.execute(FINISHED_SERIES, params)).fetchall()
