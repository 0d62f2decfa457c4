"""Commands without a feed wake live streams with a NOTIFY after their commit, never from inside
their transaction."""

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

pytestmark = pytest.mark.anyio

LISTEN = "LISTEN jobtrail_events"
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
# Only the hash chain and the refusals of edits: a trigger that notified would hold the
# cluster-wide notify lock through every append's commit.
TRIGGERS_ON_EVENTS = """
SELECT t.tgname, p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
 WHERE t.tgrelid = 'events'::regclass AND NOT t.tgisinternal ORDER BY t.tgname
"""


async def create(pool: AsyncConnectionPool, stream_id, known: JobState | None = None) -> None:
    command = create_job("crawl", KindConfig(), owner="ada", at=T0)
    await handle(pool, stream_id, command, Metadata(actor="ada"), known=known)


async def test_a_command_wakes_the_watchers_of_its_stream_after_it_committed(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    stream_id = uuid4()
    async with await AsyncConnection.connect(database_url, autocommit=True) as listener:
        await listener.execute(LISTEN)
        await create(pool, stream_id)
        payloads = [n.payload async for n in listener.notifies(timeout=10, stop_after=1)]
    assert payloads == [str(stream_id)]


async def test_a_refused_append_wakes_nobody(pool: AsyncConnectionPool, database_url: str) -> None:
    refused, accepted = uuid4(), uuid4()
    await create(pool, refused)
    async with await AsyncConnection.connect(database_url, autocommit=True) as listener:
        await listener.execute(LISTEN)
        with pytest.raises(JobAlreadyExists):  # decided against a stale state: version 1 is taken, then re-decided
            await create(pool, refused, known=INITIAL)
        await create(pool, accepted)
        # Notifications arrive in commit order: one for the refused append would come first.
        payloads = [n.payload async for n in listener.notifies(timeout=10, stop_after=1)]
        payloads += [n.payload async for n in listener.notifies(timeout=0.2)]
    assert payloads == [str(accepted)]


async def test_no_trigger_on_the_events_table_notifies(pool: AsyncConnectionPool) -> None:
    async with pool.connection() as conn:
        triggers: dict[str, str] = dict(await (await conn.execute(TRIGGERS_ON_EVENTS)).fetchall())
    assert set(triggers) == {"events_chain", "events_delete_archived", "events_immutable", "events_no_truncate"}
    assert not [name for name, source in triggers.items() if "notify" in source.lower()]
