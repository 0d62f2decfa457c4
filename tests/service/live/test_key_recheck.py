"""Open live streams end once their API key is revoked, on a real PostgreSQL and EventFeed."""

import asyncio
from uuid import uuid4

import pytest

from domain.state import INITIAL
from service.auth.keys import Scope, create_key, revoke_key
from service.live.key_recheck import KeyRecheck
from service.live.streams import LogFilter, Version, horizon, job_versions, log_events
from tests.service.key_ids import key_id_of
from tests.service.live.conftest import DATA, INSERT

pytestmark = pytest.mark.anyio

RECHECK_S = 0.2


@pytest.fixture
async def key(pool) -> str:
    async with pool.connection() as conn:
        return await create_key(conn, "audit", (Scope.AUDIT_READ,))


async def revoke(pool, key: str) -> None:
    async with pool.connection() as conn:
        assert await revoke_key(conn, key_id_of(key))


async def insert_jobs(pool, *stream_ids) -> None:
    async with pool.connection() as conn:
        for stream_id in stream_ids:
            await conn.execute(INSERT, {"stream_id": stream_id, "data": DATA})


async def test_a_recheck_reads_the_key_no_more_than_once_per_interval(pool, key):
    recheck = KeyRecheck(pool, key, RECHECK_S)
    await revoke(pool, key)

    assert not await recheck.revoked()  # authenticated just now: no read is due yet
    await asyncio.sleep(recheck.left())
    assert await recheck.revoked()


async def test_a_log_stream_ends_after_its_key_is_revoked_and_sends_nothing_committed_after(feed, pool, key):
    async with pool.connection() as conn:
        start = await horizon(conn)
    stream = log_events(feed, pool, start, LogFilter(), 60, KeyRecheck(pool, key, RECHECK_S))
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)  # the stream is waiting now, idle

    await revoke(pool, key)
    await asyncio.sleep(3 * RECHECK_S)  # past the recheck
    await insert_jobs(pool, uuid4(), uuid4())

    async with asyncio.timeout(10):
        with pytest.raises(StopAsyncIteration):
            await pending


async def test_a_watch_ends_after_its_key_is_revoked_and_sends_nothing_committed_after(feed, pool, key):
    stream_id = uuid4()
    stream = job_versions(feed, pool, stream_id, INITIAL, [], 60, KeyRecheck(pool, key, RECHECK_S))
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)

    await revoke(pool, key)
    await asyncio.sleep(3 * RECHECK_S)
    await insert_jobs(pool, stream_id)

    async with asyncio.timeout(10):
        with pytest.raises(StopAsyncIteration):
            await pending


async def test_a_stream_whose_key_stands_goes_on_past_many_rechecks(feed, pool, key):
    stream_id = uuid4()
    stream = job_versions(feed, pool, stream_id, INITIAL, [], 60, KeyRecheck(pool, key, RECHECK_S))
    pending = asyncio.ensure_future(anext(stream))
    try:
        await asyncio.sleep(4 * RECHECK_S)
        await insert_jobs(pool, stream_id)
        async with asyncio.timeout(10):
            update = await pending
        assert isinstance(update, Version) and update.event.stream_id == stream_id
    finally:
        await stream.aclose()
