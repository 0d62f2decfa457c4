"""A chain verified up to an event can be continued from it: what a watching page checks."""

from datetime import UTC, datetime
from uuid import uuid4

import msgspec
import pytest
from psycopg_pool import AsyncConnectionPool

from domain.commands import RecordBatch, StartRun
from domain.kinds import KindConfig, create_job
from projections.chain import verify
from projections.log import Metadata, link, read_stream
from service.jobs.command_handler import handle

pytestmark = pytest.mark.anyio


async def a_stream(pool: AsyncConnectionPool, runs: int) -> list:
    stream_id, now, meta = uuid4(), datetime.now(UTC), Metadata(actor="test")
    await handle(pool, stream_id, create_job("demo", KindConfig(max_runs=100), owner="o", at=now), meta)
    await handle(pool, stream_id, StartRun(at=now, run=1), meta)
    for run in range(1, runs + 1):
        await handle(pool, stream_id, RecordBatch(at=now, run=run, results=1, has_more=True), meta)
    async with pool.connection() as conn:
        return [link(e) for e in await read_stream(conn, stream_id)]


async def test_continuing_from_any_event_gives_the_verdict_of_checking_the_whole_stream(
    pool: AsyncConnectionPool,
) -> None:
    links = await a_stream(pool, runs=4)
    whole = verify(links)

    assert whole.ok and whole.events == len(links) == 10
    for shown in range(1, len(links) + 1):
        assert verify(links[shown:], after=links[shown - 1]) == whole


async def test_a_tampered_event_after_the_continuation_point_is_named(pool: AsyncConnectionPool) -> None:
    links = await a_stream(pool, runs=3)
    tampered = [*links[:6], msgspec.structs.replace(links[6], data=msgspec.Raw(b'{"edited": true}')), *links[7:]]

    report = verify(tampered[5:], after=tampered[4])

    assert not report.ok and report.first_bad_version == 7 and report.head == links[5].hash.hex()


async def test_reading_a_stream_after_a_version_starts_at_the_next(pool: AsyncConnectionPool) -> None:
    links = await a_stream(pool, runs=2)
    async with pool.connection() as conn:
        tail = await read_stream(conn, links[0].stream_id, after_version=3)

    assert [e.version for e in tail] == list(range(4, len(links) + 1))
