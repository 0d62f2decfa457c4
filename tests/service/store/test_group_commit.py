"""Group commit: concurrent writes share a transaction, yet each caller keeps its own outcome."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from domain.commands import FailDelivery, StartRun
from domain.job import decide, fold
from domain.kinds import KindConfig, create_job
from domain.state import JobState
from projections.log import Metadata
from service.jobs.command_handler import handle
from service.jobs.observers import Observers
from service.store.database import create_pool
from service.store.event_store import ConcurrencyConflict, DuplicateMessage, InboxEntry, append
from service.store.group_commit import GroupCommit, GroupCommitFailed
from service.store.job_status import load

pytestmark = pytest.mark.anyio

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
CONFIG = KindConfig(max_runs=5, deadline_s=None)
ACTOR = Metadata(actor="group")
WRITERS = 8
DEADLINE_S = 60.0


@pytest.fixture
async def wide_pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = create_pool(database_url, min_size=2, max_size=WRITERS)
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()


async def started_job(pool: AsyncConnectionPool, stream_id: UUID | None = None) -> tuple[UUID, JobState]:
    """A job created and started, one by one; its id and state."""
    stream_id = stream_id or uuid4()
    await handle(pool, stream_id, create_job("crawl", CONFIG, owner="ada", at=T0), ACTOR)
    handled = await handle(pool, stream_id, StartRun(at=T0, run=1), ACTOR)
    return stream_id, handled.state


def failure(attempt: int) -> FailDelivery:
    return FailDelivery(at=T0 + timedelta(seconds=attempt), run=1, attempt=attempt, error=f"writer {attempt}")


async def event_types(pool: AsyncConnectionPool, stream_id: UUID) -> list[str]:
    async with pool.connection() as conn:
        cursor = await conn.execute("SELECT type FROM events WHERE stream_id = %s ORDER BY version", [stream_id])
        return [row[0] for row in await cursor.fetchall()]


Job = tuple[UUID, JobState]


def append_at(group: GroupCommit, job: Job, attempt: int, inbox: InboxEntry | None = None) -> Awaitable[int]:
    """Append one DeliveryFailed at the job's version in `group`."""
    stream_id, state = job
    events = decide(failure(attempt), state)
    return append(group, stream_id, state.version, events, fold(events, state), ACTOR, inbox=inbox)


def together(*writes: Awaitable[Any]) -> asyncio.Future[list[Any]]:
    """Hand every write to the group in the same moment, so that they form one group."""
    return asyncio.gather(*writes, return_exceptions=True)


async def test_writes_at_the_same_version_in_one_group_one_wins_and_the_others_conflict(
    wide_pool: AsyncConnectionPool,
) -> None:
    stream_id, state = await started_job(wide_pool)
    group = GroupCommit(wide_pool)
    outcomes = await together(*(append_at(group, (stream_id, state), attempt) for attempt in range(WRITERS)))
    assert (group.groups, group.grouped) == (1, WRITERS)
    winners = [outcome for outcome in outcomes if isinstance(outcome, int)]
    assert len(winners) == 1
    assert all(isinstance(outcome, ConcurrencyConflict) for outcome in outcomes if not isinstance(outcome, int))
    assert (await event_types(wide_pool, stream_id)).count("DeliveryFailed") == 1


async def test_commands_racing_on_one_stream_through_the_group_all_succeed_after_retries(
    wide_pool: AsyncConnectionPool,
) -> None:
    stream_id, state = await started_job(wide_pool)
    group = GroupCommit(wide_pool)
    observers = Observers(group_commit=group)
    handled = await asyncio.gather(
        *(
            handle(wide_pool, stream_id, failure(attempt), ACTOR, known=state, observers=observers)
            for attempt in range(WRITERS)
        )
    )
    assert all(len(result.events) == 1 for result in handled)
    assert group.grouped > group.groups  # some writes did share a group
    async with wide_pool.connection() as conn:
        final = await load(conn, stream_id)
    assert final.version == state.version + WRITERS
    assert (await event_types(wide_pool, stream_id)).count("DeliveryFailed") == WRITERS


async def test_a_failing_statement_in_a_group_fails_its_caller_alone(wide_pool: AsyncConnectionPool) -> None:
    jobs = [await started_job(wide_pool) for _ in range(4)]
    entry = InboxEntry(message_id="msg-once", outcome="ok")
    async with wide_pool.connection() as conn:  # the message id is taken already
        await conn.execute("INSERT INTO inbox (message_id, outcome) VALUES ('msg-once', 'ok')")

    group = GroupCommit(wide_pool)
    outcomes = await together(
        append_at(group, jobs[0], 1),
        append_at(group, jobs[1], 1, inbox=entry),
        group.run("SELECT 1 / 0", {}),
        append_at(group, jobs[2], 1),
        append_at(group, jobs[3], 1),
    )
    assert group.groups == 1
    assert isinstance(outcomes[1], DuplicateMessage)
    assert isinstance(outcomes[2], psycopg.errors.DivisionByZero)
    assert all(isinstance(outcome, int) for outcome in (outcomes[0], outcomes[3], outcomes[4]))
    for index, (stream_id, _) in enumerate(jobs):
        expected = 0 if index == 1 else 1
        assert (await event_types(wide_pool, stream_id)).count("DeliveryFailed") == expected


async def test_a_failing_statement_in_a_group_logs_no_warning(
    wide_pool: AsyncConnectionPool, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing statement is its caller's error, and an expected one: psycopg, reading it
    before the group's end, warned for the statements it aborted."""
    group = GroupCommit(wide_pool)
    followers = range(24)  # enough that its error is read while they are still being sent
    with caplog.at_level(logging.WARNING):
        failing = group.run("SELECT 1 / 0", {})
        outcomes = await together(failing, *(group.run("SELECT %(n)s", {"n": n}) for n in followers))
    assert group.groups == 1
    assert isinstance(outcomes[0], psycopg.errors.DivisionByZero)
    assert outcomes[1:] == [[(n,)] for n in followers]
    # The pool's note that it discards the connection closed after a failure (on purpose,
    # `_run_together`) is one the service quiets (service/logs.py).
    assert [record.getMessage() for record in caplog.records if record.name != "psycopg.pool"] == []


async def test_a_write_alone_commits_at_once_without_a_transaction_around_it(wide_pool: AsyncConnectionPool) -> None:
    stream_id, state = await started_job(wide_pool)
    group = GroupCommit(wide_pool)
    assert isinstance(await append_at(group, (stream_id, state), 1), int)
    assert (group.groups, group.grouped) == (1, 1)
    assert (await event_types(wide_pool, stream_id))[-1] == "DeliveryFailed"


async def backend_waiting_for_a_lock(conn: AsyncConnection, database: str) -> int:
    """The pid of the backend of `database` that waits for a lock, once there is one."""
    async with asyncio.timeout(DEADLINE_S):
        while True:
            cursor = await conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", [database]
            )
            if found := await cursor.fetchone():
                return found[0]
            await asyncio.sleep(0.05)


async def test_a_group_whose_connection_dies_before_its_commit_acknowledges_nothing_and_retries_succeed(
    wide_pool: AsyncConnectionPool, database_url: str
) -> None:
    jobs = [await started_job(wide_pool) for _ in range(3)]
    blocked_id, blocked_state = jobs[2]
    group = GroupCommit(wide_pool)
    async with await AsyncConnection.connect(database_url, autocommit=True) as holder, holder.transaction():
        # The third append's status upsert waits for this row: the group stops after the first two.
        await holder.execute("SELECT 1 FROM job_status WHERE stream_id = %s FOR UPDATE", [blocked_id])
        writes = together(*(append_at(group, job, 1) for job in jobs))
        group_pid = await backend_waiting_for_a_lock(holder, holder.info.dbname)
        await holder.execute("SELECT pg_terminate_backend(%s)", [group_pid])
        outcomes = await writes
    assert all(isinstance(outcome, GroupCommitFailed) for outcome in outcomes)
    assert all(isinstance(outcome, psycopg.OperationalError) for outcome in outcomes)  # the API answers 503
    for stream_id, _ in jobs:
        assert "DeliveryFailed" not in await event_types(wide_pool, stream_id)
    retried = await together(*(append_at(group, job, 1) for job in jobs))
    assert all(isinstance(outcome, int) for outcome in retried)
    for stream_id, _ in jobs:
        assert (await event_types(wide_pool, stream_id)).count("DeliveryFailed") == 1
    assert blocked_state.version + 1 == len(await event_types(wide_pool, blocked_id))


async def test_a_caller_that_gives_up_while_waiting_for_a_group_writes_nothing(
    wide_pool: AsyncConnectionPool, database_url: str
) -> None:
    first, second = await started_job(wide_pool), await started_job(wide_pool)
    group = GroupCommit(wide_pool, in_flight=1)  # the next group waits for the first
    async with await AsyncConnection.connect(database_url, autocommit=True) as holder:
        async with holder.transaction():  # the first write's group waits for this row
            await holder.execute("SELECT 1 FROM job_status WHERE stream_id = %s FOR UPDATE", [first[0]])
            kept = asyncio.ensure_future(append_at(group, first, 1))
            await backend_waiting_for_a_lock(holder, holder.info.dbname)
            dropped = asyncio.ensure_future(append_at(group, second, 1))
            await asyncio.sleep(0)  # waiting for the next group
            dropped.cancel()
        assert isinstance(await kept, int)
    with pytest.raises(asyncio.CancelledError):
        await dropped
    assert group.groups == 1
    assert "DeliveryFailed" not in await event_types(wide_pool, second[0])


async def test_a_second_group_commits_alongside_only_when_a_full_one_waits(
    wide_pool: AsyncConnectionPool, database_url: str
) -> None:
    blocked, first, second = [await started_job(wide_pool) for _ in range(3)]
    group = GroupCommit(wide_pool, max_group=2)
    async with await AsyncConnection.connect(database_url, autocommit=True) as holder:
        async with holder.transaction():  # the first group waits for this row
            await holder.execute("SELECT 1 FROM job_status WHERE stream_id = %s FOR UPDATE", [blocked[0]])
            stuck = asyncio.ensure_future(append_at(group, blocked, 1))
            await backend_waiting_for_a_lock(holder, holder.info.dbname)
            lone = asyncio.ensure_future(append_at(group, first, 1))
            await asyncio.sleep(0.3)
            assert not lone.done(), "a write that does not fill a group waits for the group committing"
            filled = asyncio.ensure_future(append_at(group, second, 1))
            async with asyncio.timeout(DEADLINE_S):
                assert all(isinstance(position, int) for position in await asyncio.gather(lone, filled))
            assert group.groups == 1 and not stuck.done()  # the full group went beside the stuck one
        assert isinstance(await stuck, int)
    assert group.groups == 2


def test_a_group_holds_between_one_and_sixty_four_writes() -> None:
    with pytest.raises(ValueError, match="1 to 64"):
        GroupCommit(None, max_group=65)
