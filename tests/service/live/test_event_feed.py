"""The EventFeed both ways, on a real PostgreSQL: this process's commits wake it at once and
reach other processes in coalesced NOTIFYs; other processes' NOTIFYs wake it; its own do not."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from domain.errors import JobAlreadyExists
from domain.kinds import KindConfig, create_job
from domain.state import INITIAL, JobState
from projections.log import Metadata
from service.jobs.command_handler import handle
from service.jobs.observers import STANDALONE, Observers
from service.live.event_feed import EVENTS_CHANNEL, OUTBOX_CHANNEL, STREAMS_PER_NOTIFY, EventFeed

pytestmark = pytest.mark.anyio

LISTEN = f"LISTEN {EVENTS_CHANNEL}; LISTEN {OUTBOX_CHANNEL}"
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
QUIET_S = 0.3  # how long "nothing more arrives" is watched for


@pytest.fixture
async def feed(database_url: str) -> AsyncIterator[EventFeed]:
    feed = EventFeed(database_url, fallback_s=3600)  # no fallback wake-ups: only what is tested
    await feed.start()
    try:
        yield feed
    finally:
        await feed.close()


@pytest.fixture
async def other_process(database_url: str) -> AsyncIterator[AsyncConnection]:
    """A connection listening as another service process would."""
    async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(LISTEN)
        yield conn


async def heard(listener: AsyncConnection, count: int) -> list[tuple[str, str]]:
    """The next `count` notifications, then any that follow within QUIET_S."""
    notes = [(n.channel, n.payload) async for n in listener.notifies(timeout=10, stop_after=count)]
    return notes + [(n.channel, n.payload) async for n in listener.notifies(timeout=QUIET_S)]


async def listening(feed: EventFeed) -> None:
    """Until the feed's LISTEN is in place (its connect rings the relay's doorbell)."""
    async with asyncio.timeout(10):
        await feed.outbox_queued.wait()
    feed.outbox_queued.clear()


async def ring_within(event: asyncio.Event, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True


async def create(
    pool: AsyncConnectionPool, stream_id, observers: Observers = STANDALONE, known: JobState | None = None
) -> None:
    command = create_job("crawl", KindConfig(), owner="ada", at=T0)
    await handle(pool, stream_id, command, Metadata(actor="ada"), known=known, observers=observers)


async def test_a_commit_wakes_this_processs_watchers_and_relay_before_any_round_trip(feed: EventFeed) -> None:
    watched, other = uuid4(), uuid4()
    with feed.subscribe(watched) as job, feed.subscribe(None) as log, feed.subscribe(other) as elsewhere:
        feed.committed(watched, queued=True)
        # No await in between: nothing went to the database and back.
        assert job.woken.is_set() and log.woken.is_set() and feed.outbox_queued.is_set()
        assert not elsewhere.woken.is_set()


async def test_a_commit_that_queued_nothing_leaves_the_relay_asleep(feed: EventFeed) -> None:
    feed.committed(uuid4(), queued=False)
    assert not feed.outbox_queued.is_set()


async def test_commits_announced_together_reach_other_processes_in_one_notification(
    feed: EventFeed, other_process: AsyncConnection
) -> None:
    streams = [uuid4() for _ in range(3)]
    for stream_id in streams:
        feed.committed(stream_id, queued=stream_id == streams[1])
    notes = await heard(other_process, 2)
    assert notes == [(EVENTS_CHANNEL, ",".join(map(str, streams))), (OUTBOX_CHANNEL, "")]


async def test_a_busy_process_sends_at_most_one_notification_per_interval_and_the_first_at_once(
    database_url: str, other_process: AsyncConnection
) -> None:
    feed = EventFeed(database_url, fallback_s=3600, notify_interval_s=1.0)
    await feed.start()
    try:
        first, *later = [uuid4() for _ in range(4)]
        feed.committed(first, queued=False)
        # The first after a quiet spell is not held for the interval.
        at_once = [(n.channel, n.payload) async for n in other_process.notifies(timeout=0.8, stop_after=1)]
        assert at_once == [(EVENTS_CHANNEL, str(first))]
        for stream_id in later:  # during the pause after the first NOTIFY: they wait and go together
            feed.committed(stream_id, queued=False)
            await asyncio.sleep(0.02)
        assert await heard(other_process, 1) == [(EVENTS_CHANNEL, ",".join(map(str, later)))]
    finally:
        await feed.close()


async def test_a_burst_larger_than_one_payload_holds_is_split_and_nothing_is_lost(
    feed: EventFeed, other_process: AsyncConnection
) -> None:
    streams = [uuid4() for _ in range(STREAMS_PER_NOTIFY + 5)]
    for stream_id in streams:
        feed.committed(stream_id, queued=False)
    notes = await heard(other_process, 2)
    assert [channel for channel, _ in notes] == [EVENTS_CHANNEL, EVENTS_CHANNEL]
    assert all(len(payload) < 8000 for _, payload in notes)
    assert [s for _, payload in notes for s in payload.split(",")] == [str(s) for s in streams]


async def test_another_processs_notifications_wake_the_feeds_watchers_and_relay(
    feed: EventFeed, database_url: str
) -> None:
    await listening(feed)
    stream_id = uuid4()
    with feed.subscribe(stream_id) as job:
        async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
            await conn.execute("SELECT pg_notify(%s, %s)", (EVENTS_CHANNEL, f"{uuid4()},{stream_id}"))
            await conn.execute("SELECT pg_notify(%s, '')", (OUTBOX_CHANNEL,))
        assert await ring_within(job.woken, 10)
        assert await ring_within(feed.outbox_queued, 10)


async def test_the_feed_does_not_wake_itself_again_with_the_notifications_it_sent(
    feed: EventFeed, other_process: AsyncConnection
) -> None:
    await listening(feed)
    stream_id = uuid4()
    with feed.subscribe(stream_id) as job:
        feed.committed(stream_id, queued=True)
        job.woken.clear()
        feed.outbox_queued.clear()
        assert len(await heard(other_process, 2)) == 2  # sent, and so also delivered to the feed
        assert not await ring_within(job.woken, QUIET_S)
        assert not feed.outbox_queued.is_set()


async def test_a_command_handed_the_feed_announces_through_it_and_a_refused_append_not_at_all(
    feed: EventFeed, pool: AsyncConnectionPool, other_process: AsyncConnection
) -> None:
    refused, accepted = uuid4(), uuid4()
    await create(pool, refused)  # without a feed: announced by its own NOTIFY (and run 1 queued)
    assert await heard(other_process, 2) == [(EVENTS_CHANNEL, str(refused)), (OUTBOX_CHANNEL, "")]
    through_feed = Observers(feed=feed)
    with feed.subscribe(None) as log:
        log.woken.clear()
        with pytest.raises(JobAlreadyExists):  # decided against a stale state: refused at version 1, then re-decided
            await create(pool, refused, through_feed, known=INITIAL)
        assert not log.woken.is_set()
        await create(pool, accepted, through_feed)
        assert log.woken.is_set()
    assert await heard(other_process, 2) == [(EVENTS_CHANNEL, str(accepted)), (OUTBOX_CHANNEL, "")]


async def test_closing_sends_the_hints_still_unsent(database_url: str, other_process: AsyncConnection) -> None:
    feed = EventFeed(database_url, fallback_s=3600)
    await feed.start()
    stream_id = uuid4()
    feed.committed(stream_id, queued=False)
    await feed.close()
    assert await heard(other_process, 1) == [(EVENTS_CHANNEL, str(stream_id))]
