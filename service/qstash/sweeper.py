"""The sweeper, run on a QStash schedule: time out overdue jobs, rescue stalled ones.

Both go through `handle`, so each change is decided against a version: a sweep can
never overwrite a completion, and two sweeps racing change a job once. A job is
stalled when it is active, has not moved for `stall_after_s`, its last outbox row
was sent that long ago too, and QStash no longer holds that message (it was lost, e.g.
with a broker that died). Its current run is then sent again, a bounded number of
times (the kind's `max_redispatches`); after that the deadline takes over.
"""

from datetime import UTC, datetime, timedelta

import msgspec
from psycopg_pool import AsyncConnectionPool
from qstash import AsyncQStash
from qstash.errors import QStashError

from domain.commands import Redispatch, TimeOut
from projections.log import Metadata
from service.jobs.command_handler import handle
from service.jobs.observers import STANDALONE, Observers

SWEEPER = Metadata(actor="sweeper")

OVERDUE = """
SELECT stream_id FROM job_status
 WHERE status IN ('pending', 'processing') AND deadline <= %(now)s
 ORDER BY deadline LIMIT %(limit)s
"""

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


class SweepReport(msgspec.Struct, frozen=True):
    timed_out: int
    redispatched: int


def now() -> datetime:
    return datetime.now(UTC)


async def sweep(
    pool: AsyncConnectionPool,
    client: AsyncQStash | None,
    stall_after_s: float,
    limit: int = 1000,
    observers: Observers = STANDALONE,
) -> SweepReport:
    timed_out = await time_out_overdue(pool, limit, observers)
    redispatched = await rescue_stalled(pool, client, stall_after_s, limit, observers) if client else 0
    return SweepReport(timed_out=timed_out, redispatched=redispatched)


async def time_out_overdue(pool: AsyncConnectionPool, limit: int, observers: Observers) -> int:
    async with pool.connection() as conn:
        rows = await (await conn.execute(OVERDUE, {"now": now(), "limit": limit})).fetchall()
    timed_out = 0
    for (stream_id,) in rows:
        command = TimeOut(at=now(), detected_by="sweeper")
        handled = await handle(pool, stream_id, command, SWEEPER, observers=observers)
        timed_out += bool(handled.events)
    return timed_out


async def rescue_stalled(
    pool: AsyncConnectionPool, client: AsyncQStash, stall_after_s: float, limit: int, observers: Observers
) -> int:
    before = now() - timedelta(seconds=stall_after_s)
    async with pool.connection() as conn:
        rows = await (await conn.execute(STALLED, {"before": before, "limit": limit})).fetchall()
    rescued = 0
    for stream_id, version, run, message_id in rows:
        if message_id and await _in_flight(client, message_id):
            continue
        command = Redispatch(at=now(), run=run, seen_version=version)
        rescued += bool((await handle(pool, stream_id, command, SWEEPER, observers=observers)).events)
    return rescued


async def _in_flight(client: AsyncQStash, message_id: str) -> bool:
    """Whether QStash still holds the message (waiting, or between retries)."""
    try:
        await client.message.get(message_id)
    except QStashError as error:
        # The SDK raises one error type for every status; only a 404 means "gone".
        if "status: 404" in str(error):
            return False
        raise
    return True
