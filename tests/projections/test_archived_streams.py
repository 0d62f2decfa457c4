"""Global subscribers after archiving: positions removed from the log stall nothing and
corrupt nothing. The stats view, a rebuild (in place or in the shadow), the drift check
and a live reader's resume point all carry on with the events that remain."""

import asyncio
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from psycopg_pool import AsyncConnectionPool

from domain.commands import Cancel, RecordBatch, StartRun
from domain.kinds import KindConfig, create_job
from projections import job_status
from projections.drift import find_drift
from projections.log import Metadata, RecordedEvent, read_after, read_stream
from projections.rebuild import rebuild_job_status
from projections.shadow_rebuild import shadow_rebuild
from projections.stats import StatsProjection, reset
from service.archive.store import DirectoryStore
from service.jobs.command_handler import handle
from service.live.streams import Cursor, resume_point
from service.store.database import create_pool
from tests.archiving import archive
from tests.service.health.stats_scenario import project

pytestmark = pytest.mark.anyio

ENDLESS = KindConfig(max_runs=100_000, deadline_s=None)
STATS_ROWS = "SELECT stream_id, status, version FROM job_stats ORDER BY stream_id"
STATUS_ROWS = "SELECT stream_id, state::text FROM job_status ORDER BY stream_id"


def at() -> datetime:
    return datetime.now(UTC)


async def finished_job(pool: AsyncConnectionPool) -> UUID:
    job_id = uuid4()
    await handle(pool, job_id, create_job("demo.count", ENDLESS, owner="acme", at=at()), Metadata())
    await handle(pool, job_id, Cancel(at=at(), reason="done"), Metadata())
    return job_id


async def busy_job(pool: AsyncConnectionPool) -> UUID:
    job_id = uuid4()
    await handle(pool, job_id, create_job("demo.count", ENDLESS, owner="acme", at=at()), Metadata())
    await handle(pool, job_id, StartRun(at=at(), run=1), Metadata())
    return job_id


async def record_batches(pool: AsyncConnectionPool, job_id: UUID, runs: range) -> None:
    for run in runs:
        await handle(pool, job_id, RecordBatch(at=at(), run=run, results=1, has_more=True), Metadata())


async def rows(pool: AsyncConnectionPool, query: str) -> list[tuple]:
    async with pool.connection() as conn:
        return await (await conn.execute(query)).fetchall()


async def test_jobs_archived_before_and_after_the_stats_checkpoint_leave_every_subscriber_correct(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    store = DirectoryStore(tmp_path)
    seen_then_archived = await finished_job(pool)
    busy = await busy_job(pool)
    async with pool.connection() as conn:
        await project(conn)  # the checkpoint is past the first job's events
    unseen_then_archived = await finished_job(pool)
    await record_batches(pool, busy, range(1, 4))
    await archive(pool, store, seen_then_archived)
    await archive(pool, store, unseen_then_archived)
    await record_batches(pool, busy, range(4, 6))  # the busy job goes on appending
    kept = await finished_job(pool)
    status_before = await rows(pool, STATUS_ROWS)

    async with pool.connection() as conn:
        await project(conn)  # stalls on nothing: it ends once the lag is zero
        incremental = await rows(pool, STATS_ROWS)
        await reset(conn)
        await project(conn)
        assert await find_drift(conn) == []
        await rebuild_job_status(conn)
        assert await find_drift(conn) == []

    assert {row[0] for row in incremental} == {busy, kept}
    assert incremental == await rows(pool, STATS_ROWS)  # a rebuild of the view from zero agrees
    assert [row for row in incremental if row[0] == busy] == [(busy, "processing", 12)]  # created, started, 5 × 2
    assert await rows(pool, STATUS_ROWS) == status_before  # the remaining jobs, as before


async def test_a_round_of_events_read_before_their_job_was_archived_writes_no_stats_row_for_it(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    archived, kept = await finished_job(pool), await finished_job(pool)
    async with pool.connection() as conn:
        events: list[RecordedEvent] = []
        while len(events) < 4:  # other tests' open transactions may hold the log back a moment
            events = await read_after(conn, 0, 0)
        await archive(pool, DirectoryStore(tmp_path), archived)
        async with conn.transaction():
            await StatsProjection().apply(conn, events)

    assert [row[0] for row in await rows(pool, STATS_ROWS)] == [kept]


async def test_a_job_archived_while_a_shadow_rebuild_folds_leaves_no_row_behind(
    pool: AsyncConnectionPool, database_url: str, tmp_path: Path
) -> None:
    archived, kept = await finished_job(pool), await finished_job(pool)
    store = DirectoryStore(tmp_path)
    archived_during_the_fold = threading.Event()

    async def archive_elsewhere() -> None:
        other = create_pool(database_url, min_size=1, max_size=2)
        await other.open(wait=True)
        try:
            await archive(other, store, archived)
        finally:
            await other.close()

    def during_the_fold(done: int, total: int) -> None:
        if not archived_during_the_fold.is_set():  # after the fold's snapshot, before its rows are written
            thread = threading.Thread(target=lambda: asyncio.run(archive_elsewhere()))
            thread.start()
            thread.join()
            archived_during_the_fold.set()

    async with pool.connection() as conn:
        await shadow_rebuild(conn, during_the_fold)
        assert archived_during_the_fold.is_set()
        assert set(await job_status.live_rows(conn)) == {kept}
        assert await find_drift(conn) == []


async def settled_after(conn, cursor: Cursor, count: int, patience_s: float = 120) -> list[UUID]:
    """The streams of the events after `cursor`, once `count` of them are settled: other
    tests' open transactions, anywhere in the cluster, may hold the log back a moment."""
    give_up = time.monotonic() + patience_s
    while len(events := await read_after(conn, cursor.transaction_id, cursor.position)) < count:
        assert time.monotonic() < give_up, "the log stayed held back"
        await asyncio.sleep(0.05)
    return [e.stream_id for e in events]


async def test_a_live_reader_resuming_from_an_archived_event_goes_on_with_the_next_remaining_ones(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    await finished_job(pool)  # an event before the archived ones, to resume after
    archived, after = await finished_job(pool), await finished_job(pool)
    async with pool.connection() as conn:
        positions = [e.position for e in await read_stream(conn, archived)]
        last = (await read_stream(conn, after))[-1].position
        await archive(pool, DirectoryStore(tmp_path), archived)

        cursors = [await resume_point(conn, position) for position in positions]
        resumed = [await settled_after(conn, cursor, 2) for cursor in cursors if cursor is not None]
        never_was = await resume_point(conn, last + 1000)

    assert len(resumed) == len(positions) == 2
    assert resumed == [[after, after]] * 2  # no archived event replayed, nothing skipped
    assert never_was is None  # a position that was never an event's is still refused
