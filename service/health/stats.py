"""Health statistics read from the stats view, the outbox and the stats checkpoint.

Every figure here comes from an index: jobs from `job_stats` (created or finished in
the window, or processing without progress), the backlog from the outbox's unsent
index, and the lag from the unseen tail of the log after the stats checkpoint. No
query reads the log as a whole. The queries are their tables' owners'
(projections/stats.py, service/store/outbox.py, projections/log.py); this module
shapes what they return. `owner=None` means every owner.
"""

from datetime import datetime, timedelta
from uuid import UUID

import msgspec
from psycopg import AsyncConnection

from projections import log
from projections import stats as job_stats
from projections.stats import NAME as STATS_SUBSCRIBER
from service.store import outbox

STUCK_IDS_SHOWN = 5
LAG_COUNT_CAP = 100_000


class JobCounts(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    by_status: dict[str, int]
    by_kind: dict[str, int]


class Durations(msgspec.Struct, frozen=True, kw_only=True):
    completed: int
    avg_s: float
    p95_s: float


class Finished(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    failed: int  # error or timeout
    failure_rate: float | None  # None when nothing finished
    durations_by_kind: dict[str, Durations]


class Stuck(msgspec.Struct, frozen=True, kw_only=True):
    count: int
    job_ids: list[UUID]  # the longest stuck first, at most STUCK_IDS_SHOWN


class Backlog(msgspec.Struct, frozen=True, kw_only=True):
    unsent: int
    oldest_age_s: float


class Lag(msgspec.Struct, frozen=True, kw_only=True):
    events: int
    seconds: float


async def job_counts(conn: AsyncConnection, since: datetime, owner: str | None) -> JobCounts:
    rows = await job_stats.created_counts(conn, since, owner)
    by_status = {status: count for status, kind, count in rows if status is not None}
    by_kind = {kind: count for status, kind, count in rows if kind is not None}
    return JobCounts(total=sum(by_status.values()), by_status=by_status, by_kind=by_kind)


async def finished(conn: AsyncConnection, since: datetime, owner: str | None) -> Finished:
    rows = await job_stats.finished_by_kind(conn, since, owner)
    total = sum(row[1] for row in rows)
    failed = sum(row[2] for row in rows)
    durations = {
        kind: Durations(completed=completed, avg_s=avg, p95_s=p95)
        for kind, _, _, completed, avg, p95 in rows
        if completed
    }
    rate = failed / total if total else None
    return Finished(total=total, failed=failed, failure_rate=rate, durations_by_kind=durations)


async def stuck(conn: AsyncConnection, now: datetime, after_s: float, owner: str | None) -> Stuck:
    rows = await job_stats.stuck_since(conn, now - timedelta(seconds=after_s), owner, STUCK_IDS_SHOWN)
    return Stuck(count=rows[0][0] if rows else 0, job_ids=[job_id for _, job_id in rows])


async def backlog(conn: AsyncConnection) -> Backlog:
    unsent, age = await outbox.backlog(conn)
    return Backlog(unsent=unsent, oldest_age_s=age)


async def lag(conn: AsyncConnection) -> Lag:
    events, seconds = await log.unseen(conn, STATS_SUBSCRIBER, LAG_COUNT_CAP)
    return Lag(events=events, seconds=seconds)
