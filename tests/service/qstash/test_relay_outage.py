"""The relay against a QStash that does not answer: no transaction waits on it, failed rows
back off, an abandoned lease is taken over, and every run still reaches QStash once."""

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

import httpx
import pytest
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from qstash import AsyncQStash
from qstash.message import PublishResponse

from domain.kinds import KindConfig, create_job
from projections.log import Metadata
from service.broker import BrokerConfig, create_broker
from service.jobs.command_handler import handle
from service.qstash.client import qstash_client
from service.qstash.relay import Relay
from service.store import outbox
from tests.service.broker.conftest import FAST, Destination, serve
from tests.service.broker.scripted_server import Server, serving, unused_port

pytestmark = pytest.mark.anyio

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
TOKEN = BrokerConfig().token
TIMEOUT_S = 0.5
LEASE_S = 2.0

ROW = "SELECT id, publish_attempts, sent_at, message_id, last_error FROM outbox WHERE stream_id = %(s)s"
WAIT_S = "SELECT extract(epoch FROM next_attempt_at - now())::float8 FROM outbox WHERE stream_id = %(s)s"
LOCK_NOWAIT = "SELECT id FROM outbox WHERE stream_id = %(s)s FOR UPDATE NOWAIT"
IDLE_IN_TRANSACTION = """
SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%%'
"""
DUE_NOW = "UPDATE outbox SET next_attempt_at = now() WHERE stream_id = %(s)s"


@dataclass
class Silent:
    """A QStash that accepts connections, reads each request and never answers."""

    server: Server
    url: str
    asked: asyncio.Event


@contextlib.asynccontextmanager
async def silent_qstash() -> AsyncIterator[Silent]:
    asked = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        asked.set()
        await reader.read()  # until the client gives up and hangs up

    async with serving(script) as (server, port):
        yield Silent(server, f"http://127.0.0.1:{port}", asked)


@contextlib.asynccontextmanager
async def client_of(url: str) -> AsyncIterator[AsyncQStash]:
    client = qstash_client(TOKEN, url, local_broker=False)
    try:
        yield client
    finally:
        await client.http._client.aclose()


@dataclass
class Broker:
    url: str
    destination: Destination


@pytest.fixture
async def broker() -> AsyncIterator[Broker]:
    """A broker whose deliveries of runs land at a recording destination (jobtrail's stand-in)."""
    destination = Destination()
    async with serve(destination) as destination_url, serve(create_broker(BrokerConfig(time_scale=FAST))) as url:
        destination.base_url = destination_url
        yield Broker(url, destination)


def relay(pool: AsyncConnectionPool, client: AsyncQStash, public_url: str = "http://jobtrail.test") -> Relay:
    return Relay(pool, client, {}, public_url, publish_timeout_s=TIMEOUT_S, lease_s=LEASE_S)


async def queue_run(pool: AsyncConnectionPool) -> UUID:
    """A new job: its first run is queued in the outbox."""
    stream_id = uuid4()
    await handle(pool, stream_id, create_job("crawl", KindConfig(), owner="ada", at=T0), Metadata(actor="ada"))
    return stream_id


async def fetch(pool: AsyncConnectionPool, query: str, stream_id: UUID) -> tuple:
    async with pool.connection() as conn:
        return await (await conn.execute(query, {"s": stream_id})).fetchone()


async def test_a_publish_that_hangs_holds_no_transaction_and_ends_the_round_within_its_timeout(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    stream_id = await queue_run(pool)
    async with silent_qstash() as qstash, client_of(qstash.url) as client:
        started = time.monotonic()
        round_ = asyncio.create_task(relay(pool, client).publish_pending())
        await asyncio.wait_for(qstash.asked.wait(), 5)
        async with await AsyncConnection.connect(database_url, autocommit=True) as other:
            idle_in_transaction = await (await other.execute(IDLE_IN_TRANSACTION)).fetchone()
            async with other.transaction():
                locked = await (await other.execute(LOCK_NOWAIT, {"s": stream_id})).fetchall()
        assert not round_.done()  # the publish was still waiting meanwhile
        sent = await round_
        elapsed = time.monotonic() - started

    assert idle_in_transaction == (0,)
    assert len(locked) == 1
    assert sent == 0
    assert TIMEOUT_S <= elapsed < TIMEOUT_S + 1.5
    assert qstash.server.connections == 1  # one attempt: the outbox is the retry, not the SDK
    _, attempts, sent_at, _, error = await fetch(pool, ROW, stream_id)
    assert (attempts, sent_at) == (1, None)
    assert error.startswith("TimeoutError")


async def test_an_unreachable_qstash_ends_the_round_and_hands_back_the_rows_it_did_not_try(
    pool: AsyncConnectionPool,
) -> None:
    first, second = await queue_run(pool), await queue_run(pool)
    async with silent_qstash() as qstash, client_of(qstash.url) as client:
        started = time.monotonic()
        assert await relay(pool, client).publish_pending() == 0
        elapsed = time.monotonic() - started

    assert elapsed < TIMEOUT_S + 1.5  # one timeout, not one per row
    assert qstash.server.connections == 1
    assert (await fetch(pool, ROW, first))[1] == 1
    assert (await fetch(pool, ROW, second))[1] == 0
    assert await fetch(pool, WAIT_S, second) == (None,)  # claimable again at once


async def test_a_failed_row_waits_longer_after_each_failure_up_to_a_minute_and_no_poll_retries_it_sooner(
    pool: AsyncConnectionPool,
) -> None:
    stream_id = await queue_run(pool)
    waits = []
    async with client_of(f"http://127.0.0.1:{unused_port()}") as client:
        refused = relay(pool, client)
        for _ in range(8):
            assert await refused.publish_pending() == 0
            (wait_s,) = await fetch(pool, WAIT_S, stream_id)
            waits.append(round(wait_s))
            assert await refused.publish_pending() == 0  # not yet due: no attempt
            async with pool.connection() as conn:
                await conn.execute(DUE_NOW, {"s": stream_id})  # as if the wait were over

    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]
    _, attempts, sent_at, _, error = await fetch(pool, ROW, stream_id)
    assert (attempts, sent_at) == (8, None)
    assert error.startswith("ConnectError")


async def test_once_qstash_answers_again_the_backed_off_run_is_published_and_delivered_once(
    pool: AsyncConnectionPool, broker: Broker
) -> None:
    stream_id = await queue_run(pool)
    async with silent_qstash() as qstash, client_of(qstash.url) as client:
        assert await relay(pool, client, broker.destination.base_url).publish_pending() == 0
    await asyncio.sleep(1.1)  # the first backoff

    async with client_of(broker.url) as client:
        recovered = relay(pool, client, broker.destination.base_url)
        assert await recovered.publish_pending() == 1
        assert await recovered.publish_pending() == 0
    [delivery] = await broker.destination.wait_for("/qstash/run", 1)
    await asyncio.sleep(0.2)  # time for a second delivery, were there one

    _, attempts, sent_at, message_id, _ = await fetch(pool, ROW, stream_id)
    assert attempts == 2 and sent_at is not None
    assert delivery.message_id == message_id
    assert broker.destination.to("/qstash/run") == [delivery]
    assert json.loads(delivery.body) == {"job_id": str(stream_id), "run": 1}


async def test_a_lease_left_by_a_relay_that_died_after_publishing_is_taken_over_and_qstash_drops_the_repeat(
    pool: AsyncConnectionPool, broker: Broker
) -> None:
    stream_id = await queue_run(pool)
    async with client_of(broker.url) as client:
        # The relay that died: it leased the row and QStash took the run, but it never marked it.
        async with pool.connection() as conn:
            [(_, _, run, deduplication_id, _, _, _)], _ = await outbox.claim_unsent(conn, 10, lease_s=LEASE_S)
        first = await client.message.publish_json(
            url=f"{broker.destination.base_url}/qstash/run",
            body={"job_id": str(stream_id), "run": run},
            deduplication_id=deduplication_id,
        )
        survivor = relay(pool, client, broker.destination.base_url)
        assert await survivor.publish_pending() == 0  # leased: not the survivor's yet
        async with pool.connection() as conn:
            await conn.execute(DUE_NOW, {"s": stream_id})  # the lease ends
        assert await survivor.publish_pending() == 1

    [delivery] = await broker.destination.wait_for("/qstash/run", 1)
    await asyncio.sleep(0.2)
    _, _, sent_at, message_id, _ = await fetch(pool, ROW, stream_id)
    assert sent_at is not None
    assert isinstance(first, PublishResponse)
    assert message_id == first.message_id == delivery.message_id
    assert broker.destination.to("/qstash/run") == [delivery]


async def test_a_lease_ends_by_itself(pool: AsyncConnectionPool) -> None:
    await queue_run(pool)
    async with pool.connection() as conn:
        assert len((await outbox.claim_unsent(conn, 10, lease_s=0.2))[0]) == 1
        assert (await outbox.claim_unsent(conn, 10, lease_s=0.2))[0] == []
        await asyncio.sleep(0.3)
        assert len((await outbox.claim_unsent(conn, 10, lease_s=0.2))[0]) == 1


@pytest.mark.parametrize("local_broker", [False, True])
async def test_the_client_asks_once_and_gives_up_after_its_timeout(local_broker: bool) -> None:
    async with silent_qstash() as qstash:
        client = qstash_client(TOKEN, qstash.url, local_broker=local_broker, timeout_s=0.3)
        started = time.monotonic()
        with pytest.raises(httpx.TimeoutException):
            await client.message.publish_json(url="http://jobtrail.test/qstash/run", body={})
        elapsed = time.monotonic() - started
        await client.http._client.aclose()

    assert 0.3 <= elapsed < 1.5
    assert qstash.server.connections == 1
