"""Finished jobs for the retention tests, driven through the command handler."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from domain.commands import AnyCommand, Cancel, FailJob, RecordBatch, StartRun, TimeOut
from domain.kinds import KindConfig, create_job
from projections import job_status
from projections.log import Metadata
from service.jobs.command_handler import handle
from service.store.event_store import BatchItems, InboxEntry
from service.store.job_status import Expired, RetentionPolicy

LONG_AGO = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ACTOR = Metadata(actor="test", request_id="r-1")
CONFIG = KindConfig(max_runs=5, deadline_s=None, max_requeues=2)
ONE_DAY = RetentionPolicy(default_s=86400.0, default_failed_s=86400.0)
LIVE_ROW = "SELECT {} FROM job_status WHERE stream_id = %s".format(
    ", ".join(c if c != "state" else "state::text" for c in job_status.COLUMNS)
)


def completing(at: datetime, batches: int = 2) -> list[AnyCommand]:
    commands: list[AnyCommand] = [StartRun(at=at, run=1)]
    for run in range(1, batches + 1):
        last = run == batches
        commands.append(RecordBatch(at=at, run=run, results=5, has_more=not last, cursor=str(run)))
    return commands


async def make_job(
    pool: AsyncConnectionPool,
    *then: AnyCommand,
    owner: str = "acme",
    kind: str = "demo.count",
    at: datetime = LONG_AGO,
    deadline_s: float | None = None,
) -> UUID:
    stream_id = uuid4()
    created = create_job(kind, CONFIG, owner=owner, at=at, params={"total": 10}, deadline_s=deadline_s)
    await handle(pool, stream_id, created, ACTOR)
    for number, command in enumerate(then, start=1):
        items = BatchItems(run=command.run, items=[command.run]) if isinstance(command, RecordBatch) else None
        inbox = InboxEntry(message_id=f"{stream_id}-{number}", outcome="ok")
        await handle(pool, stream_id, command, ACTOR, inbox=inbox, results=items)
    return stream_id


async def completed_job(pool: AsyncConnectionPool, *, owner: str = "acme", at: datetime = LONG_AGO) -> UUID:
    return await make_job(pool, *completing(at), owner=owner, at=at)


async def failed_job(pool: AsyncConnectionPool, *, at: datetime = LONG_AGO) -> UUID:
    return await make_job(pool, StartRun(at=at, run=1), FailJob(at=at, reason="retries_exhausted", error="x"), at=at)


async def timed_out_job(pool: AsyncConnectionPool, *, at: datetime = LONG_AGO, kind: str = "demo.count") -> UUID:
    return await make_job(pool, TimeOut(at=at + timedelta(seconds=60)), at=at, kind=kind, deadline_s=30.0)


async def cancelled_job(pool: AsyncConnectionPool, *, at: datetime = LONG_AGO) -> UUID:
    return await make_job(pool, Cancel(at=at, reason="no"), at=at)


async def status_row(conn: AsyncConnection, stream_id: UUID) -> tuple | None:
    return await (await conn.execute(LIVE_ROW, [stream_id])).fetchone()


async def count(conn: AsyncConnection, table: str, stream_id: UUID) -> int:
    query = f"SELECT count(*) FROM {table} WHERE stream_id = %s"  # noqa: S608 — table names from the tests
    row = await (await conn.execute(query, [stream_id])).fetchone()
    assert row is not None
    return int(row[0])


async def expired_row(conn: AsyncConnection, stream_id: UUID) -> Expired:
    query = "SELECT stream_id, owner, kind, status, finished_at, version FROM job_status WHERE stream_id = %s"
    row = await (await conn.execute(query, [stream_id])).fetchone()
    assert row is not None
    return Expired(*row)


def days_later(days: float) -> datetime:
    return LONG_AGO + timedelta(days=days)
