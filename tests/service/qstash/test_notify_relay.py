"""The notification relay: a target that turned private since it was given is refused at
send time and nothing is published; an idle relay sleeps on its own doorbell, not the outbox's."""

import asyncio
import contextlib
import ipaddress
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from cryptography.fernet import Fernet
from psycopg_pool import AsyncConnectionPool
from qstash import AsyncQStash

from domain.commands import Cancel
from domain.kinds import KindConfig, create_job
from projections.log import Metadata
from service.jobs.command_handler import handle
from service.jobs.observers import STANDALONE, Observers
from service.live.event_feed import EventFeed
from service.notifications.secrets import SecretBox, new_secret
from service.notifications.targets import Address, check_target
from service.qstash.client import qstash_client
from service.qstash.notify_relay import NotificationRelay
from service.settings import DEV_QSTASH_TOKEN, Settings
from service.store import webhooks
from tests.service.broker.scripted_server import Server, serving

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
# Not a dev broker: public https targets only.
PRODUCTION = Settings(
    qstash_token="a-real-qstash-token",
    qstash_current_signing_key="sig_current_key_of_at_least_32_bytes",
    qstash_next_signing_key="sig_next_key_of_at_least_32_bytes_too",
    qstash_url="https://qstash.example.com",
)
DEVELOPMENT = Settings()
ROW = "SELECT sent_at, failed_at, message_id, last_error FROM notifications WHERE stream_id = %(s)s"
ROW_DONE = (
    "SELECT count(*) FROM notifications WHERE stream_id = %(s)s AND (sent_at IS NOT NULL OR failed_at IS NOT NULL)"
)
BOX = SecretBox(Fernet.generate_key())
TAKEN = b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 25\r\n\r\n{"messageId":"msg_taken"}'


class Dns:
    """A resolver whose answer for every name the test changes (a rebinding DNS server)."""

    def __init__(self, answer: str) -> None:
        self.answer = answer

    async def __call__(self, host: str) -> list[Address]:
        return [ipaddress.ip_address(self.answer)]


@contextlib.asynccontextmanager
async def counting_qstash() -> AsyncIterator[tuple[Server, AsyncQStash]]:
    """A QStash stand-in that accepts any publish and counts who asked."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server.answer(reader, writer, TAKEN)

    async with serving(script) as (server, port):
        client = qstash_client(DEV_QSTASH_TOKEN, f"http://127.0.0.1:{port}", local_broker=False)
        try:
            yield server, client
        finally:
            await client.http._client.aclose()


async def finished_job(pool: AsyncConnectionPool, notify_url: str, observers: Observers = STANDALONE) -> UUID:
    """A job with `notify_url`, cancelled: its final event queues one notification."""
    stream_id = uuid4()
    meta = Metadata(actor="ada")
    await handle(pool, stream_id, create_job("crawl", KindConfig(), owner="ada", at=T0, notify_url=notify_url), meta)
    await handle(pool, stream_id, Cancel(at=T0 + timedelta(seconds=1)), meta, observers=observers)
    return stream_id


async def row(pool: AsyncConnectionPool, stream_id: UUID) -> tuple:
    async with pool.connection() as conn:
        return await (await conn.execute(ROW, {"s": stream_id})).fetchone()


async def until(predicate, what: str, timeout_s: float = 20) -> None:
    async with asyncio.timeout(timeout_s):
        while not await predicate():
            await asyncio.sleep(0.02)


async def test_a_target_that_resolves_privately_by_send_time_is_refused_with_a_clear_error_and_never_published(
    pool: AsyncConnectionPool,
) -> None:
    dns = Dns("93.184.215.14")
    url = "https://hooks.example.com/jobs"
    await check_target(url, development=False, allow_private=False, resolver=dns)  # accepted when given
    async with pool.connection() as conn:
        await webhooks.set_notify_secret(conn, "ada", BOX.seal(new_secret()))
    stream_id = await finished_job(pool, url)

    dns.answer = "169.254.169.254"  # the name now points at the cloud metadata service
    async with counting_qstash() as (qstash, client):
        relay = NotificationRelay(pool, client, PRODUCTION, BOX, resolver=dns)
        assert await relay.publish_pending() == 0
        assert await relay.publish_pending() == 0  # refused for good, not tried again

    assert qstash.connections == 0
    sent_at, failed_at, message_id, error = await row(pool, stream_id)
    assert (sent_at, message_id) == (None, None) and failed_at is not None
    assert error == "not sent: resolves to a private or reserved address (169.254.169.254)"


async def test_a_target_still_public_at_send_time_is_published(pool: AsyncConnectionPool) -> None:
    """The counterpart of the refusal above: the same row, the same relay, a public answer."""
    async with pool.connection() as conn:
        await webhooks.set_notify_secret(conn, "ada", BOX.seal(new_secret()))
    stream_id = await finished_job(pool, "https://hooks.example.com/jobs")
    async with counting_qstash() as (qstash, client):
        relay = NotificationRelay(pool, client, PRODUCTION, BOX, resolver=Dns("93.184.215.14"))
        assert await relay.publish_pending() == 1
    assert qstash.connections == 1
    assert (await row(pool, stream_id))[0] is not None


async def test_an_idle_relay_makes_no_claims_while_the_outbox_is_busy_and_wakes_on_a_final_event(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    feed = EventFeed(database_url)  # not started: this process's rings only, no fallback wake-ups
    observers = Observers(feed=feed)
    stop = asyncio.Event()
    relay = NotificationRelay(
        pool, qstash_client(DEV_QSTASH_TOKEN, "http://127.0.0.1:9", local_broker=False), DEVELOPMENT, BOX
    )
    task = asyncio.create_task(relay.run(feed.notifications_queued, stop, poll_s=3600))
    try:
        await until(lambda: _true(relay.claims == 1), "the first round")
        for _ in range(20):  # a busy outbox: each new job rings the outbox relay's doorbell
            stream_id = uuid4()
            command = create_job("crawl", KindConfig(), owner="ada", at=T0)
            await handle(pool, stream_id, command, Metadata(actor="ada"), observers=observers)
            assert feed.outbox_queued.is_set()
            feed.outbox_queued.clear()
        await asyncio.sleep(0.3)  # room for claims the relay must not make
        assert relay.claims == 1

        # No secret for the owner: the row is settled (refused) by the one round the final event rings for.
        finished = await finished_job(pool, "http://127.0.0.1:9/hook", observers)
        await until(lambda: _settled(pool, finished), "the notification's round")
        assert relay.claims == 2
        assert (await row(pool, finished))[3] == "not sent: the owner has no notify_url secret"
    finally:
        stop.set()
        feed.notifications_queued.set()
        await task
        await relay.client.http._client.aclose()


async def test_a_final_event_in_another_process_wakes_the_relay_through_notify(
    pool: AsyncConnectionPool, database_url: str
) -> None:
    feed = EventFeed(database_url, fallback_s=3600)
    await feed.start()
    stop = asyncio.Event()
    relay = NotificationRelay(
        pool, qstash_client(DEV_QSTASH_TOKEN, "http://127.0.0.1:9", local_broker=False), DEVELOPMENT, BOX
    )
    try:
        async with asyncio.timeout(10):
            await feed.notifications_queued.wait()  # the listener connected (its connect rings)
        task = asyncio.create_task(relay.run(feed.notifications_queued, stop, poll_s=3600))
        await until(lambda: _true(relay.claims >= 1 and not feed.notifications_queued.is_set()), "the first round")
        claims = relay.claims
        finished = await finished_job(pool, "http://127.0.0.1:9/hook")  # STANDALONE: its own NOTIFY
        await until(lambda: _settled(pool, finished), "the notification's round")
        assert relay.claims == claims + 1
    finally:
        stop.set()
        feed.notifications_queued.set()
        with contextlib.suppress(NameError):
            await task
        await feed.close()
        await relay.client.http._client.aclose()


async def _true(value: bool) -> bool:
    return value


async def _settled(pool: AsyncConnectionPool, stream_id: UUID) -> bool:
    async with pool.connection() as conn:
        return (await (await conn.execute(ROW_DONE, {"s": stream_id})).fetchone()) == (1,)


async def test_a_secret_sealed_under_another_key_refuses_the_row_saying_so_and_logs_no_secret(
    pool: AsyncConnectionPool, caplog: pytest.LogCaptureFixture
) -> None:
    secret = new_secret()
    async with pool.connection() as conn:
        await webhooks.set_notify_secret(conn, "ada", SecretBox(Fernet.generate_key()).seal(secret))
    stream_id = await finished_job(pool, "http://127.0.0.1:9/hook")
    caplog.set_level("DEBUG")
    async with counting_qstash() as (qstash, client):
        assert await NotificationRelay(pool, client, DEVELOPMENT, BOX).publish_pending() == 0

    assert qstash.connections == 0
    error = (await row(pool, stream_id))[3]
    assert error == "not sent: a stored webhook secret does not decrypt with the configured key"
    assert "does not decrypt" in caplog.text
    assert secret not in caplog.text and secret[6:] not in caplog.text
