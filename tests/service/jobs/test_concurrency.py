"""Optimistic concurrency under real contention: many connections, one stream, one winner."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from domain.commands import Cancel, FailDelivery, StartRun
from domain.events import AnyEvent, DeliveryFailed, JobCancelled, JobStarted
from domain.job import decide, fold
from domain.kinds import KindConfig, create_job
from domain.state import JobState
from projections.log import Metadata, job_event, read_stream
from service.jobs.command_handler import MAX_ATTEMPTS, handle
from service.store.database import create_pool
from service.store.event_store import ConcurrencyConflict, append
from service.store.job_status import load

pytestmark = pytest.mark.anyio

WRITERS = 16
ROUNDS = 25
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
CONFIG = KindConfig(max_runs=5, deadline_s=None)


@pytest.fixture
async def writers(database_url: str) -> AsyncIterator[list[AsyncConnection]]:
    conns = [await AsyncConnection.connect(database_url, autocommit=True) for _ in range(WRITERS)]
    try:
        yield conns
    finally:
        for conn in conns:
            await conn.close()


@pytest.fixture
async def wide_pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    pool = create_pool(database_url, min_size=WRITERS, max_size=WRITERS)
    await pool.open(wait=True)
    try:
        yield pool
    finally:
        await pool.close()


async def race(
    writers: list[AsyncConnection], stream_id: UUID, state: JobState, events: list[AnyEvent]
) -> list[BaseException | int]:
    """Every writer appends its own event at `state.version`, all released at once."""
    go = asyncio.Event()

    async def write(conn: AsyncConnection, event: AnyEvent) -> int:
        await go.wait()
        return await append(conn, stream_id, state.version, [event], fold([event], state), Metadata(actor="race"))

    tasks = [asyncio.create_task(write(conn, event)) for conn, event in zip(writers, events, strict=True)]
    await asyncio.sleep(0.01)  # every writer is parked on the event
    go.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_of_sixteen_writers_appending_at_the_same_version_exactly_one_wins_every_round(
    writers: list[AsyncConnection],
) -> None:
    stream_id = uuid4()
    conn = writers[0]
    create = create_job("crawl", CONFIG, owner="ada", at=T0)
    outcomes = await race(writers, stream_id, JobState(), decide(create, JobState()) * WRITERS)
    winners = []
    for round_ in range(ROUNDS):
        if round_:
            state = await load(conn, stream_id)
            events: list[AnyEvent] = [
                DeliveryFailed(at=T0, run=1, attempt=round_, error=f"writer {writer}") for writer in range(WRITERS)
            ]
            outcomes = await race(writers, stream_id, state, events)
        won = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, int)]
        lost = [o for o in outcomes if isinstance(o, ConcurrencyConflict)]
        assert len(won) == 1 and len(lost) == WRITERS - 1, (round_, outcomes)
        winners.append(won[0])
    recorded = await read_stream(conn, stream_id)
    assert [e.version for e in recorded] == list(range(1, ROUNDS + 1))
    errors = [e.event.error for e in recorded[1:] if isinstance(e.event, DeliveryFailed)]
    assert errors == [f"writer {w}" for w in winners[1:]]
    assert await load(conn, stream_id) == fold(map(job_event, recorded))


@pytest.mark.parametrize("contenders", [MAX_ATTEMPTS, WRITERS])
async def test_concurrent_commands_through_handle_each_apply_once_with_contiguous_versions(
    wide_pool: AsyncConnectionPool, contenders: int
) -> None:
    stream_id = uuid4()
    await handle(wide_pool, stream_id, create_job("crawl", CONFIG, owner="ada", at=T0), Metadata(actor="t"))
    await handle(wide_pool, stream_id, StartRun(at=T0, run=1), Metadata(actor="t"))
    go = asyncio.Event()

    # Losers re-read and retry at once, in lockstep: each round of conflicts has one
    # winner, so the n-th command needs n attempts. Past MAX_ATTEMPTS contenders this
    # fails with TooMuchContention (see service/jobs/command_handler.py).
    async def fail(attempt: int) -> None:
        await go.wait()
        command = FailDelivery(at=T0 + timedelta(seconds=attempt), run=1, attempt=attempt, error=f"e{attempt}")
        handled = await handle(wide_pool, stream_id, command, Metadata(actor="t", message_id=f"m{attempt}"))
        assert len(handled.events) == 1

    tasks = [asyncio.create_task(fail(attempt)) for attempt in range(1, contenders + 1)]
    await asyncio.sleep(0.01)
    go.set()
    await asyncio.gather(*tasks)
    async with wide_pool.connection() as conn:
        recorded = await read_stream(conn, stream_id)
        state = await load(conn, stream_id)
    assert [e.version for e in recorded] == list(range(1, contenders + 3))
    attempts = sorted(e.event.attempt for e in recorded if isinstance(e.event, DeliveryFailed))
    assert attempts == list(range(1, contenders + 1))
    assert state == fold(map(job_event, recorded))
    assert state.attempts == contenders


async def test_a_cancel_racing_a_start_always_ends_cancelled_with_at_most_one_start(
    wide_pool: AsyncConnectionPool,
) -> None:
    for _ in range(10):
        stream_id = uuid4()
        await handle(wide_pool, stream_id, create_job("crawl", CONFIG, owner="ada", at=T0), Metadata(actor="t"))
        go = asyncio.Event()

        async def send(command: Cancel | StartRun, go: asyncio.Event = go, stream_id=stream_id) -> None:
            await go.wait()
            await handle(wide_pool, stream_id, command, Metadata(actor="t"))

        commands = [Cancel(at=T0, reason=f"c{i}") if i % 2 else StartRun(at=T0, run=1) for i in range(8)]
        tasks = [asyncio.create_task(send(command)) for command in commands]
        await asyncio.sleep(0.01)
        go.set()
        await asyncio.gather(*tasks)
        async with wide_pool.connection() as conn:
            recorded = await read_stream(conn, stream_id)
            state = await load(conn, stream_id)
        kinds = [type(e.event) for e in recorded]
        assert [e.version for e in recorded] == list(range(1, len(recorded) + 1))
        assert kinds.count(JobCancelled) == 1 and kinds.count(JobStarted) <= 1
        assert state.status == "cancelled" and state == fold(map(job_event, recorded))
