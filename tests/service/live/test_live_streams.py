"""The live stream sources in-process, on a real PostgreSQL and a real LISTEN connection."""

import asyncio
from collections.abc import AsyncGenerator
from uuid import uuid4

import pytest

from domain.state import INITIAL
from service.live.event_feed import LISTEN, EventFeed
from service.live.streams import START, Idle, LogFilter, Version, job_versions, log_events
from tests.service.live.conftest import DATA, INSERT

pytestmark = pytest.mark.anyio

KEEPALIVE_S = 0.3


async def first(stream: AsyncGenerator):
    try:
        async with asyncio.timeout(10):
            return await anext(stream)
    finally:
        await stream.aclose()


async def test_a_quiet_log_stream_keeps_alive_by_the_clock_though_woken_more_often(feed, pool):
    assert await first(log_events(feed, pool, START, LogFilter(), KEEPALIVE_S)) == Idle()


async def test_a_log_stream_whose_filter_passes_nothing_still_keeps_alive(feed, pool):
    stream = log_events(feed, pool, START, LogFilter(type="JobCancelled"), KEEPALIVE_S)
    async with pool.connection() as conn:
        for _ in range(3):
            await conn.execute(INSERT, {"stream_id": uuid4(), "data": DATA})
    assert await first(stream) == Idle()


async def test_a_quiet_watch_keeps_alive_by_the_clock_though_woken_more_often(feed, pool):
    stream_id = uuid4()
    assert await first(job_versions(feed, pool, stream_id, INITIAL, [], KEEPALIVE_S)) == Idle()


async def test_every_open_stream_ends_when_the_feed_ends_them(feed, pool):
    watch = job_versions(feed, pool, uuid4(), INITIAL, [], 60)
    log = log_events(feed, pool, START, LogFilter(), 60)
    pending = [asyncio.ensure_future(anext(stream)) for stream in (watch, log)]
    await asyncio.sleep(0.1)  # both are waiting now
    feed.end_streams()
    async with asyncio.timeout(10):
        ended = await asyncio.gather(*pending, return_exceptions=True)
    assert [type(result) for result in ended] == [StopAsyncIteration, StopAsyncIteration]


TERMINATE_LISTENER = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
 WHERE datname = current_database() AND query = %(listen)s
"""


async def test_a_watch_still_hears_commits_after_the_listener_connection_is_killed(database_url, pool):
    feed = EventFeed(database_url, fallback_s=3600)  # no fallback: only LISTEN can wake the watch
    await feed.start()
    stream_id = uuid4()
    stream = job_versions(feed, pool, stream_id, INITIAL, [], 3600)
    try:
        async with pool.connection() as conn:
            async with asyncio.timeout(10):
                while not (await (await conn.execute(TERMINATE_LISTENER, {"listen": LISTEN})).fetchall()):
                    await asyncio.sleep(0.05)  # until the feed has connected and listens
            pending = asyncio.ensure_future(anext(stream))
            await asyncio.sleep(0.1)
            await conn.execute(INSERT, {"stream_id": stream_id, "data": DATA})
        async with asyncio.timeout(10):
            update = await pending
        assert isinstance(update, Version) and update.event.stream_id == stream_id
    finally:
        await stream.aclose()
        await feed.close()
