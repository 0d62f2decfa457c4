"""Shadow rebuild: fold beside the live table while writers append, then swap it in."""

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from domain.commands import RecordBatch, StartRun
from domain.job import decide, fold
from domain.kinds import KindConfig, create_job
from domain.state import INITIAL
from projections import job_status
from projections.drift import find_drift
from projections.log import Metadata
from projections.rebuild import rebuild_job_status
from projections.replay import replay_all
from projections.shadow_rebuild import RebuildInProgress, shadow_rebuild
from projections.table_swap import NotTwins, check_twins, describe
from service.cli.demo import run_demo
from service.jobs.command_handler import handle
from service.store.database import create_pool
from service.store.event_store import append
from service.store.migrate import migrate
from tests.service.store.test_migrate import SCHEMA_QUERIES

pytestmark = pytest.mark.anyio

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
ACTOR = Metadata(actor="writer")
ENDLESS = KindConfig(max_runs=100_000, deadline_s=None)
LIVE_ROWS = "SELECT {} FROM job_status".format(
    ", ".join(c if c != "state" else "state::text" for c in job_status.COLUMNS)
)
RELOPTIONS = """
SELECT relname, reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND relkind IN ('r', 'i') ORDER BY relname
"""
EVENTS_PER_STREAM = "SELECT stream_id, count(*) FROM events GROUP BY stream_id"
COUNT_EVENTS = "SELECT count(*) FROM events"
TABLES = ("job_status", "job_status_shadow")
SWAP_WAITING = """
SELECT count(*) FROM pg_locks
 WHERE relation = 'job_status'::regclass AND mode = 'AccessExclusiveLock' AND NOT granted
"""
BACKEND_XID = "SELECT backend_xid FROM pg_stat_activity WHERE pid = %s"


async def live_rows(pool: AsyncConnectionPool) -> set[tuple]:
    async with pool.connection() as conn:
        cursor = await conn.execute(LIVE_ROWS)
        return set(await cursor.fetchall())


async def schema(url: str) -> dict[str, list]:
    """The whole public schema as the catalog prints it, reloptions and all."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        found = {}
        for name, query in {**SCHEMA_QUERIES, "reloptions": RELOPTIONS}.items():
            cursor = await conn.execute(query)
            found[name] = await cursor.fetchall()
        for table in TABLES:
            found[table] = await describe(conn, table)
    return found


class Writers:
    """Writers appending through the command handler, on their own thread and event loop.

    Their own loop keeps them running while the rebuild's loop is busy (or made to
    wait, below); half the appends create new jobs, half record batches of old ones.
    """

    def __init__(self, url: str, count: int) -> None:
        self.url, self.count = url, count
        self.appended: dict[UUID, int] = {}  # events each stream was told it got
        self.appends = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()))

    def appends_so_far(self) -> int:
        with self.lock:
            return self.appends

    def wait_for(self, appends: int) -> None:
        while self.appends_so_far() < appends:
            if not self.thread.is_alive():
                raise AssertionError("the writers stopped")
            self.stop.wait(0.005)

    async def _run(self) -> None:
        pool = create_pool(self.url, min_size=self.count, max_size=self.count)
        await pool.open(wait=True)
        try:
            await asyncio.gather(*(self._write(pool, number) for number in range(self.count)))
        finally:
            await pool.close()

    async def _write(self, pool: AsyncConnectionPool, number: int) -> None:
        clock = 0
        while not self.stop.is_set():
            stream_id = uuid4()
            clock += 1
            created = await handle(pool, stream_id, create_job("crawl", ENDLESS, owner=f"w{number}", at=T0), ACTOR)
            started = await handle(pool, stream_id, StartRun(at=T0, run=1), ACTOR)
            self._record(stream_id, created, started)
            for run in range(1, 6):
                if self.stop.is_set():
                    break
                at = T0 + timedelta(seconds=clock + run)
                self._record(
                    stream_id,
                    await handle(pool, stream_id, RecordBatch(at=at, run=run, results=1, has_more=True), ACTOR),
                )

    def _record(self, stream_id: UUID, *handled) -> None:
        with self.lock:
            self.appended[stream_id] = self.appended.get(stream_id, 0) + sum(len(h.events) for h in handled)
            self.appends += len(handled)


async def test_the_shadow_table_is_a_twin_of_job_status_in_a_fresh_database(pool: AsyncConnectionPool) -> None:
    async with pool.connection() as conn:
        await check_twins(conn, "job_status", "job_status_shadow")
        live, shadow = await describe(conn, "job_status"), await describe(conn, "job_status_shadow")
    assert shadow.renamed("job_status_shadow", "job_status") == live
    assert live.table[0][2] == ["fillfactor=70"]
    assert "job_status_idempotency_key" in [name for name, *_ in live.constraints]


async def test_swaps_leave_the_schema_exactly_as_a_fresh_migration_makes_it(
    pool: AsyncConnectionPool, database_url: str, empty_database_url: str
) -> None:
    await migrate(empty_database_url)
    await run_demo(pool, 4)
    async with pool.connection() as conn:
        first = await shadow_rebuild(conn)
        second = await shadow_rebuild(conn)  # back again: each table has now been both
    assert first.rows == second.rows == 4
    assert await schema(database_url) == await schema(empty_database_url)


async def test_the_plain_and_the_shadow_rebuild_give_identical_rows(pool: AsyncConnectionPool) -> None:
    await run_demo(pool, 12)
    before = await live_rows(pool)
    async with pool.connection() as conn:
        assert await rebuild_job_status(conn) == 12
        plain = await live_rows(pool)
        swapped = await shadow_rebuild(conn)
        shadow = await live_rows(pool)
        cursor = await conn.execute("SELECT count(*) FROM job_status_shadow")
        (left_behind,) = await cursor.fetchone()
    assert plain == shadow == before
    assert (swapped.rows, swapped.caught_up, swapped.refolded, left_behind) == (12, 0, 0, 0)


async def test_a_shadow_rebuild_during_appends_loses_nothing_doubles_nothing_and_equals_a_replay(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    await run_demo(pool, 20)
    writers = Writers(database_url, count=4)
    writers.thread.start()
    try:
        writers.wait_for(40)  # well past psycopg's threshold for preparing the append

        def hold_the_fold(done: int, total: int) -> None:
            """Once the snapshot is taken, let the writers append 40 more times."""
            if done == 0:
                writers.wait_for(writers.appends_so_far() + 40)

        async with pool.connection() as conn:
            swapped = await shadow_rebuild(conn, hold_the_fold)
        writers.wait_for(writers.appends_so_far() + 40)  # and on top of the new table
    finally:
        writers.stop.set()
        writers.thread.join()
    async with pool.connection() as conn:
        assert await find_drift(conn) == []
        cursor = await conn.execute(EVENTS_PER_STREAM)
        stored = dict(await cursor.fetchall())
        replayed = await replay_all(conn)
    assert swapped.caught_up > 0
    for stream_id, events in writers.appended.items():
        assert stored[stream_id] == events == replayed[stream_id].version
    assert len(await live_rows(pool)) == len(replayed) == 20 + len(writers.appended)


@pytest.mark.parametrize("rebuild", [rebuild_job_status, shadow_rebuild], ids=["plain", "shadow"])
async def test_progress_counts_rise_to_the_number_of_events(pool: AsyncConnectionPool, rebuild) -> None:
    await run_demo(pool, 10)
    calls: list[tuple[int, int]] = []
    async with pool.connection() as conn:
        cursor = await conn.execute(COUNT_EVENTS)
        (events,) = await cursor.fetchone()
        await rebuild(conn, lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, events) and calls[-1] == (events, events)
    assert all(total == events for _, total in calls)
    assert [done for done, _ in calls] == sorted({done for done, _ in calls})  # rising, no repeat


async def test_a_swap_is_refused_when_job_status_gained_what_its_twin_lacks(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    await run_demo(pool, 3)
    before = await live_rows(pool)

    def add_a_view_mid_fold(done: int, total: int) -> None:
        if done == 0:
            with psycopg.connect(database_url, autocommit=True) as other:
                other.execute("CREATE VIEW active_jobs AS SELECT stream_id FROM job_status")

    async with pool.connection() as conn:
        await conn.execute("CREATE INDEX job_status_kind ON job_status (kind)")
        with pytest.raises(NotTwins, match="indexes"):  # found before folding
            await shadow_rebuild(conn)
        await conn.execute("DROP INDEX job_status_kind")
        with pytest.raises(NotTwins, match="active_jobs"):  # found under the swap's lock
            await shadow_rebuild(conn, add_a_view_mid_fold)
        cursor = await conn.execute("SELECT count(*) FROM job_status_shadow")
        (shadow_rows,) = await cursor.fetchone()
        cursor = await conn.execute("SELECT count(*) FROM active_jobs")
        (through_the_view,) = await cursor.fetchone()
    assert await live_rows(pool) == before
    assert (shadow_rows, through_the_view) == (3, 3)  # folded, never swapped in


async def test_a_second_shadow_rebuild_is_refused_while_one_runs(pool: AsyncConnectionPool) -> None:
    async with pool.connection() as first, pool.connection() as second:
        await first.execute("SELECT pg_advisory_lock(hashtext('jobtrail.shadow_rebuild'))")
        with pytest.raises(RebuildInProgress):
            await shadow_rebuild(second)


async def test_the_shadow_fold_holds_no_transaction_id_so_subscribers_read_on(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    """Global subscribers read below the oldest running transaction id; the fold is not one."""
    await run_demo(pool, 3)
    seen: list[object] = []
    async with pool.connection() as conn:
        pid = conn.info.backend_pid

        def look(done: int, total: int) -> None:
            with psycopg.connect(database_url) as other:
                seen.append(other.execute(BACKEND_XID, [pid]).fetchone()[0])

        await shadow_rebuild(conn, look)
    assert seen and seen == [None] * len(seen)


def append_until_the_swap_waits(url: str, stream_id: UUID, appended: threading.Event) -> None:
    """Append a new job in a transaction that commits only once the swap waits for its lock."""

    async def append_and_wait() -> None:
        async with (
            await psycopg.AsyncConnection.connect(url, autocommit=True) as conn,
            await psycopg.AsyncConnection.connect(url, autocommit=True) as watcher,
        ):
            async with conn.transaction():
                events = decide(create_job("crawl", ENDLESS, owner="late", at=T0), INITIAL)
                await append(conn, stream_id, 0, events, fold(events), ACTOR)
                appended.set()
                while (await (await watcher.execute(SWAP_WAITING)).fetchone())[0] == 0:
                    await asyncio.sleep(0.005)

    asyncio.run(append_and_wait())


async def test_a_stream_changed_while_the_swap_waits_for_its_lock_is_folded_again_under_it(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    """The append is open across the catch-up's snapshot, so only the locked pass can see it."""
    await run_demo(pool, 3)
    late, appended = uuid4(), threading.Event()
    writer = threading.Thread(target=append_until_the_swap_waits, args=(database_url, late, appended))

    def start_the_late_append(done: int, total: int) -> None:
        if done == 0:
            writer.start()
            assert appended.wait(timeout=30)

    try:
        async with pool.connection() as conn:
            swapped = await shadow_rebuild(conn, start_the_late_append)
    finally:
        writer.join()
    async with pool.connection() as conn:
        assert await find_drift(conn) == []
        cursor = await conn.execute("SELECT owner FROM job_status WHERE stream_id = %s", [late])
        assert await cursor.fetchone() == ("late",)
    assert (swapped.rows, swapped.refolded) == (4, 1)
