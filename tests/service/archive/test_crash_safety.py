"""Failures between an archive's steps, and appends racing it: nothing is lost, nothing is
removed without a verified file, and the next run finishes the work."""

import asyncio
import hashlib
from pathlib import Path
from uuid import UUID

import msgspec
import psycopg
import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from domain.commands import Requeue
from domain.errors import JobNotFound
from domain.job import decide, fold
from projections.export import verify_export
from projections.log import read_stream
from service.archive.archiver import ArchiveNotVerified, archive_expired, export_bytes
from service.archive.naming import archive_name
from service.archive.store import DirectoryStore
from service.audit.archived import cover
from service.jobs.command_handler import handle
from service.store import tombstones
from service.store.event_store import append
from service.store.job_status import load
from service.store.tombstones import ArchiveRefused, Tombstone
from tests.service.archive.jobs import ACTOR, LONG_AGO, ONE_DAY, count, days_later, timed_out_job

pytestmark = pytest.mark.anyio

WAITING_FOR_A_LOCK = """
SELECT pid FROM pg_stat_activity
 WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE %(query)s
"""


class FailsAfterWriting(DirectoryStore):
    """A store whose write lands on disk and then reports a failure (a crash right after)."""

    async def write(self, name: str, data: bytes) -> None:
        await super().write(name, data)
        raise OSError("the process died after writing")


class GivesBackOtherBytes(DirectoryStore):
    async def read(self, name: str) -> bytes | None:
        data = await super().read(name)
        return data[:-2] + b"\n" if data else data


class RequeuesWhileWriting(DirectoryStore):
    """A store whose write is followed by an operator's requeue of the job, committed
    before the archive's tombstone: a late append between the read and the bury."""

    def __init__(self, root: Path, pool: AsyncConnectionPool) -> None:
        super().__init__(root)
        self.pool = pool

    async def write(self, name: str, data: bytes) -> None:
        await super().write(name, data)
        stream_id = UUID(name.rsplit("/", 1)[1].split(".")[0])
        await handle(self.pool, stream_id, Requeue(at=days_later(2)), ACTOR)


async def whole(conn: AsyncConnection, stream_id: UUID, events: int) -> bool:
    return (
        await count(conn, "events", stream_id) == events
        and await count(conn, "job_status", stream_id) == 1
        and await tombstones.latest(conn, stream_id) is None
    )


async def wait_for_lock_waiter(conn: AsyncConnection, query: str) -> int:
    """The pid of the backend waiting for a lock while running `query`; polls for 30 s."""
    for _ in range(600):
        await conn.execute("SELECT pg_stat_clear_snapshot()")  # a transaction sees one snapshot of the view
        row = await (await conn.execute(WAITING_FOR_A_LOCK, {"query": query})).fetchone()
        if row:
            return int(row[0])
        await asyncio.sleep(0.05)
    raise AssertionError(f"nobody waited for a lock running {query}")


async def test_a_failure_after_the_file_is_written_removes_nothing_and_the_next_run_finishes(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    job = await timed_out_job(pool)
    async with pool.connection() as conn:
        events = await read_stream(conn, job)
    with pytest.raises(OSError, match="died after writing"):
        await archive_expired(pool, FailsAfterWriting(tmp_path), ONE_DAY, days_later(2))
    async with pool.connection() as conn:
        assert await whole(conn, job, len(events))

    assert (await archive_expired(pool, DirectoryStore(tmp_path), ONE_DAY, days_later(2))).jobs == 1

    files = list(tmp_path.rglob("*.ndjson"))
    assert [file.relative_to(tmp_path).as_posix() for file in files] == [archive_name(job, "acme", LONG_AGO, 0)]
    assert files[0].read_bytes() == export_bytes(job, events)  # the same name, written again


async def test_a_store_that_gives_back_other_bytes_stops_the_run_before_anything_is_removed(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    job = await timed_out_job(pool)
    with pytest.raises(ArchiveNotVerified):
        await archive_expired(pool, GivesBackOtherBytes(tmp_path), ONE_DAY, days_later(2))
    async with pool.connection() as conn:
        assert await whole(conn, job, 2)


async def test_a_connection_killed_during_the_delete_leaves_the_job_whole_and_its_file_verified(
    pool: AsyncConnectionPool, database_url: str, tmp_path: Path
) -> None:
    job = await timed_out_job(pool)
    async with await AsyncConnection.connect(database_url, autocommit=True) as holder:
        async with pool.connection() as conn:
            events = await read_stream(conn, job)
        async with holder.transaction():  # the archive's DELETE waits for this row: a moment to kill it in
            await holder.execute("SELECT 1 FROM events WHERE stream_id = %s AND version = 2 FOR KEY SHARE", [job])
            run = asyncio.create_task(archive_expired(pool, DirectoryStore(tmp_path), ONE_DAY, days_later(2)))
            pid = await wait_for_lock_waiter(holder, "%archive_stream%")
            await holder.execute("SELECT pg_terminate_backend(%s)", [pid])
            with pytest.raises(psycopg.OperationalError):
                await run
    async with pool.connection() as conn:
        assert await whole(conn, job, len(events))
    files = list(tmp_path.rglob("*.ndjson"))
    assert len(files) == 1 and verify_export(files[0].read_bytes().splitlines(keepends=True)).ok

    assert (await archive_expired(pool, DirectoryStore(tmp_path), ONE_DAY, days_later(2))).jobs == 1
    async with pool.connection() as conn:
        stone = await tombstones.latest(conn, job)
    assert stone is not None and stone.archive_sha256 == hashlib.sha256(files[0].read_bytes()).digest()


async def test_a_tombstone_that_does_not_describe_the_stream_is_refused_and_nothing_is_written(
    pool: AsyncConnectionPool,
) -> None:
    job = await timed_out_job(pool)
    async with pool.connection() as conn:
        await cover(conn, job)  # every event a leaf, as the archiver makes sure first
        events = await read_stream(conn, job)
        wrong = msgspec.structs.replace(_tombstone(job, events), events=len(events) - 1)
        with pytest.raises(ArchiveRefused, match="does not describe"):
            async with conn.transaction():
                await tombstones.bury(conn, wrong)
        assert await whole(conn, job, len(events))


async def test_an_append_between_the_read_and_the_bury_skips_the_job_and_keeps_it_whole(
    pool: AsyncConnectionPool, tmp_path: Path
) -> None:
    job = await timed_out_job(pool)

    summary = await archive_expired(pool, RequeuesWhileWriting(tmp_path, pool), ONE_DAY, days_later(2))

    assert (summary.jobs, summary.skipped) == (0, 1)
    async with pool.connection() as conn:
        assert await whole(conn, job, 3)
        assert (await load(conn, job)).status == "pending"


async def test_an_append_in_flight_when_the_archive_deletes_makes_the_archive_refuse(
    pool: AsyncConnectionPool, database_url: str, tmp_path: Path
) -> None:
    job = await timed_out_job(pool)
    async with await AsyncConnection.connect(database_url, autocommit=True) as appender:
        async with appender.transaction():  # a requeue appended, not yet committed
            state = await load(appender, job)
            events = decide(Requeue(at=days_later(2)), state)
            await append(appender, job, state.version, events, fold(events, state), ACTOR)
            run = asyncio.create_task(archive_expired(pool, DirectoryStore(tmp_path), ONE_DAY, days_later(2)))
            async with pool.connection() as watcher:
                await wait_for_lock_waiter(watcher, "%archive_stream%")
        summary = await run
    assert (summary.jobs, summary.skipped) == (0, 1)
    async with pool.connection() as conn:
        assert await whole(conn, job, 3)


async def test_an_append_racing_an_archive_that_got_there_first_finds_no_job(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    job = await timed_out_job(pool)
    async with await AsyncConnection.connect(database_url, autocommit=True) as archiver:
        await cover(archiver, job)
        async with archiver.transaction():  # the tombstone written and the job removed, not yet committed
            stone = _tombstone(job, await read_stream(archiver, job))
            assert await tombstones.bury(archiver, stone) == 2
            requeue = asyncio.create_task(handle(pool, job, Requeue(at=days_later(2)), ACTOR))
            async with pool.connection() as watcher:
                await wait_for_lock_waiter(watcher, "%INSERT INTO events%")
        with pytest.raises(JobNotFound):
            await requeue
    async with pool.connection() as conn:
        assert await count(conn, "events", job) == 0
        assert await count(conn, "job_status", job) == 0
        buried = await tombstones.latest(conn, job)
        assert buried is not None and (buried.events, buried.chain_head) == (stone.events, stone.chain_head)


def _tombstone(job: UUID, events: list) -> Tombstone:
    return Tombstone(
        stream_id=job,
        owner="acme",
        kind="demo.count",
        status="timeout",
        events=len(events),
        first_position=events[0].position,
        last_position=events[-1].position,
        chain_head=events[-1].hash,
        archive_name=f"x/{job}.ndjson",
        archive_sha256=b"\0" * 32,
        finished_at=LONG_AGO,
    )
