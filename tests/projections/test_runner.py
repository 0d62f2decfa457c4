"""The catch-up runner against concurrent writers: every committed event, exactly once."""

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from psycopg import AsyncConnection

from domain.events import AnyEvent, DeliveryFailed
from domain.job import decide, fold
from domain.kinds import KindConfig, create_job
from projections.log import Metadata, RecordedEvent
from projections.runner import catch_up, catch_up_once, follow
from service.store.event_store import append

pytestmark = pytest.mark.anyio

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
WRITER = Metadata(actor="writer")


class Recorder:
    """Records each position it is given in `seen`; the primary key makes a repeat fail."""

    name = "seen"

    async def apply(self, conn: AsyncConnection, events: Sequence[RecordedEvent]) -> None:
        await conn.execute("INSERT INTO seen SELECT unnest(%s::bigint[])", [[e.position for e in events]])


class Crashing(Recorder):
    """Writes part of its view, then fails."""

    async def apply(self, conn: AsyncConnection, events: Sequence[RecordedEvent]) -> None:
        await super().apply(conn, events[: len(events) // 2])
        raise RuntimeError("subscriber crashed mid-batch")


@pytest.fixture
async def conns(database_url: str) -> AsyncIterator[list[AsyncConnection]]:
    """Ten autocommit connections on a database with an empty `seen` view."""
    opened = [await AsyncConnection.connect(database_url, autocommit=True) for _ in range(10)]
    await opened[0].execute("CREATE TABLE seen (position bigint PRIMARY KEY)")
    try:
        yield opened
    finally:
        for conn in opened:
            await conn.close()


async def write_job(conn: AsyncConnection, events_in_job: int) -> None:
    """One transaction: create a job, then append its events a few per statement."""
    stream_id = uuid4()
    create = create_job("crawl", KindConfig(max_runs=5, deadline_s=None), owner="w", at=T0)
    history: list[AnyEvent] = decide(create, fold([]))
    await append(conn, stream_id, 0, history, fold(history), WRITER)
    for start in range(1, events_in_job, 4):
        count = min(4, events_in_job - start)
        more: list[AnyEvent] = [DeliveryFailed(at=T0, run=1, attempt=start + i, error="x") for i in range(count)]
        await append(conn, stream_id, len(history), more, fold(history + more), WRITER)
        history += more


async def writer(conn: AsyncConnection, jobs: int, events_in_job: int) -> None:
    for _ in range(jobs):
        async with conn.transaction():
            await write_job(conn, events_in_job)
            await asyncio.sleep(random.uniform(0, 0.02))  # commits land out of position order


async def all_positions(conn: AsyncConnection, table: str = "events") -> list[int]:
    cursor = await conn.execute(f"SELECT position FROM {table} ORDER BY position")
    return [row[0] for row in await cursor.fetchall()]


async def checkpoint(conn: AsyncConnection) -> tuple[int, int] | None:
    cursor = await conn.execute("SELECT transaction_id::text::bigint, position FROM projection_checkpoints")
    return await cursor.fetchone()


async def test_a_runner_following_eight_concurrent_writers_sees_all_ten_thousand_events_exactly_once(
    conns: list[AsyncConnection],
) -> None:
    stop = asyncio.Event()
    runner = asyncio.create_task(follow(conns[8], Recorder(), stop, idle_s=0.01))
    await asyncio.gather(*(writer(conn, 125, 10) for conn in conns[:8]))  # 8 × 125 jobs × 10 events
    stop.set()
    fed = await runner
    events, seen = await all_positions(conns[9]), await all_positions(conns[9], "seen")
    assert len(events) == 10_000
    assert fed == len(seen) == 10_000
    assert seen == events


async def test_two_runners_of_the_same_subscriber_together_see_every_event_exactly_once(
    conns: list[AsyncConnection],
) -> None:
    stop = asyncio.Event()
    runners = [asyncio.create_task(follow(conn, Recorder(), stop, idle_s=0.01, limit=50)) for conn in conns[8:]]
    await asyncio.gather(*(writer(conn, 25, 10) for conn in conns[:8]))
    stop.set()
    fed = sum(await asyncio.gather(*runners))
    events, seen = await all_positions(conns[0]), await all_positions(conns[0], "seen")
    assert fed == len(seen) == len(events) == 2_000
    assert seen == events


async def test_a_rolled_back_append_is_never_seen_and_holds_back_later_commits_until_it_ends(
    conns: list[AsyncConnection],
) -> None:
    early, late, runner = conns[0], conns[1], conns[2]
    await write_job(early, 3)
    async with early.transaction(force_rollback=True):
        await write_job(early, 5)  # open: its events have positions, but will vanish
        await write_job(late, 2)  # committed while the open one may still commit
        assert await catch_up(runner, Recorder()) == 3
    assert await catch_up(runner, Recorder()) == 2
    assert await all_positions(runner, "seen") == await all_positions(runner)
    assert len(await all_positions(runner)) == 5


async def test_an_event_committed_late_by_a_slower_transaction_is_not_skipped(conns: list[AsyncConnection]) -> None:
    slow, fast, runner = conns[0], conns[1], conns[2]
    async with slow.transaction():
        await write_job(slow, 4)  # the lower positions, committed last
        await write_job(fast, 6)
        assert await catch_up(runner, Recorder()) == 0
    assert await catch_up(runner, Recorder()) == 10
    assert await all_positions(runner, "seen") == await all_positions(runner)


async def test_a_subscriber_failing_mid_batch_changes_neither_its_view_nor_its_checkpoint(
    conns: list[AsyncConnection],
) -> None:
    conn = conns[0]
    await write_job(conn, 8)
    with pytest.raises(RuntimeError, match="mid-batch"):
        await catch_up_once(conn, Crashing())
    assert await all_positions(conn, "seen") == []
    assert await checkpoint(conn) == (0, 0)
    assert await catch_up_once(conn, Recorder()) == 8
    positions = await all_positions(conn, "seen")
    assert positions == await all_positions(conn)
    cursor = await conn.execute("SELECT transaction_id::text::bigint FROM events WHERE position = %s", [positions[-1]])
    row = await cursor.fetchone()
    assert row is not None
    assert await checkpoint(conn) == (row[0], positions[-1])
    assert await catch_up_once(conn, Recorder()) == 0
