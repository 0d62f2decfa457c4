"""Health statistics read from the stats view, the outbox and the stats checkpoint.

Every figure here comes from an index: jobs from `job_stats` (created or finished in
the window, or processing without progress), the backlog from the outbox's unsent
index, and the lag from the unseen tail of the log after the stats checkpoint. No
query reads the log as a whole. `owner=None` means every owner.
"""

from datetime import datetime, timedelta
from uuid import UUID

import msgspec
from psycopg import AsyncConnection

from projections.stats import NAME as STATS_SUBSCRIBER

STUCK_IDS_SHOWN = 5
LAG_COUNT_CAP = 100_000

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

OUTBOX = """
SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
  FROM outbox WHERE sent_at IS NULL
"""

# The unseen tail, in the index's order and capped, so the planner walks
# events_transaction_order from the checkpoint instead of estimating a third of the log
# and scanning all of it. A lag past the cap counts as the cap; its age is still that of
# the events next after the checkpoint. A subscriber that never ran has seen nothing.
LAG = """
SELECT count(*), coalesce(extract(epoch FROM now() - min(recorded_at)), 0)::float8
  FROM (SELECT recorded_at FROM events
         WHERE (transaction_id, position) > (
                coalesce((SELECT transaction_id FROM projection_checkpoints WHERE name = %(name)s), '0'::xid8),
                coalesce((SELECT position FROM projection_checkpoints WHERE name = %(name)s), 0))
         ORDER BY transaction_id, position
         LIMIT %(cap)s) AS unseen
"""


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
    rows = await (await conn.execute(COUNTS, {"since": since, "owner": owner})).fetchall()
    by_status = {status: count for status, kind, count in rows if status is not None}
    by_kind = {kind: count for status, kind, count in rows if kind is not None}
    return JobCounts(total=sum(by_status.values()), by_status=by_status, by_kind=by_kind)


async def finished(conn: AsyncConnection, since: datetime, owner: str | None) -> Finished:
    rows = await (await conn.execute(FINISHED, {"since": since, "owner": owner})).fetchall()
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
    params = {"before": now - timedelta(seconds=after_s), "owner": owner, "limit": STUCK_IDS_SHOWN}
    rows = await (await conn.execute(STUCK, params)).fetchall()
    return Stuck(count=rows[0][0] if rows else 0, job_ids=[stream_id for _, stream_id in rows])


async def backlog(conn: AsyncConnection) -> Backlog:
    unsent, age = await (await conn.execute(OUTBOX)).fetchone()  # type: ignore[misc]
    return Backlog(unsent=unsent, oldest_age_s=age)


async def lag(conn: AsyncConnection) -> Lag:
    events, seconds = await (await conn.execute(LAG, {"name": STATS_SUBSCRIBER, "cap": LAG_COUNT_CAP})).fetchone()  # type: ignore[misc]
    return Lag(events=events, seconds=seconds)
