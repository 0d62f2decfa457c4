"""Relays are woken by the appender after its commit, never from inside its transaction."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from domain.commands import AnyCommand, StartRun
from domain.kinds import KindConfig, create_job
from projections.log import Metadata
from service.jobs.command_handler import handle
from service.jobs.dispatch import messages_for
from service.live.event_feed import OUTBOX_CHANNEL

pytestmark = pytest.mark.anyio

LISTEN = f"LISTEN {OUTBOX_CHANNEL}"

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
ACTOR = Metadata(actor="ada")
UNSENT = "SELECT count(*) FROM outbox WHERE stream_id = %(s)s AND sent_at IS NULL"
TRIGGERS_ON_OUTBOX = "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'outbox'::regclass AND NOT tgisinternal"


async def apply(pool: AsyncConnectionPool, stream_id: UUID, command: AnyCommand) -> int:
    """Handle the command without a feed (a NOTIFY of its own after the commit); how many outbox rows it queued."""
    handled = await handle(pool, stream_id, command, ACTOR)
    return len(messages_for(stream_id, handled.events, handled.state))


async def test_an_append_that_queues_a_run_wakes_a_listening_relay_which_then_sees_the_row(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    stream_id = uuid4()
    async with await AsyncConnection.connect(database_url, autocommit=True) as listener:
        await listener.execute(LISTEN)
        assert await apply(pool, stream_id, create_job("crawl", KindConfig(), owner="ada", at=T0)) == 1
        woken = [n.channel async for n in listener.notifies(timeout=10, stop_after=1)]
        unsent = await (await listener.execute(UNSENT, {"s": stream_id})).fetchone()
    assert woken == ["jobtrail_outbox"]
    assert unsent == (1,)


async def test_an_append_that_queues_nothing_wakes_no_relay(pool: AsyncConnectionPool, database_url: str) -> None:
    quiet, queuing = uuid4(), uuid4()
    await apply(pool, quiet, create_job("crawl", KindConfig(), owner="ada", at=T0))
    async with await AsyncConnection.connect(database_url, autocommit=True) as listener:
        await listener.execute(LISTEN)
        assert await apply(pool, quiet, StartRun(at=T0 + timedelta(minutes=1), run=1)) == 0
        assert await apply(pool, queuing, create_job("crawl", KindConfig(), owner="ada", at=T0)) == 1
        # Notifications arrive in commit order: one from the first append would come before this one.
        woken = [n.channel async for n in listener.notifies(timeout=10, stop_after=1)]
        woken += [n.channel async for n in listener.notifies(timeout=0.2)]
    assert woken == ["jobtrail_outbox"]


async def test_the_outbox_has_no_trigger_so_no_notification_serializes_the_commits_of_appends(
    pool: AsyncConnectionPool,
) -> None:
    async with pool.connection() as conn:
        triggers = await (await conn.execute(TRIGGERS_ON_OUTBOX)).fetchone()
    assert triggers == (0,)
