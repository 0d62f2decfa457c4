"""`read_settled_after`: what a live reader may deliver now, and whether it must poll."""

import asyncio
import json
from uuid import UUID, uuid4

import pytest
from psycopg import AsyncConnection

from projections.log import read_settled_after

pytestmark = pytest.mark.anyio

INSERT = "INSERT INTO events (stream_id, version, type, data) VALUES (%(stream_id)s, 1, 'JobCreated', %(data)s::jsonb)"
DATA = json.dumps({"type": "JobCreated", "at": "2026-01-01T00:00:00Z", "owner": "o", "kind": "k", "max_runs": 1})


async def insert(conn: AsyncConnection, stream_id: UUID) -> None:
    await conn.execute(INSERT, {"stream_id": stream_id, "data": DATA})


async def test_an_event_committed_behind_an_open_older_transaction_is_held_back_until_that_one_ends(database_url):
    slow_id, fast_id = uuid4(), uuid4()
    async with (
        await AsyncConnection.connect(database_url) as slow,
        await AsyncConnection.connect(database_url, autocommit=True) as fast,
        await AsyncConnection.connect(database_url, autocommit=True) as reader,
    ):
        await insert(slow, slow_id)  # its transaction stays open
        await insert(fast, fast_id)
        assert await read_settled_after(reader, 0, 0) == ([], True)
        await slow.commit()
        async with asyncio.timeout(10):  # other sessions on a shared server may hold xmin back a moment
            while (result := await read_settled_after(reader, 0, 0))[1]:
                await asyncio.sleep(0.05)
    events, held_back = result
    assert [e.stream_id for e in events] == [slow_id, fast_id] and not held_back
