"""What a local broker lost when it was killed: its notifications are queued again at the
next start and delivered by the new broker, once, signed, under the same webhook-id;
what was published to the new broker is never taken for lost."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from cryptography.fernet import Fernet
from psycopg_pool import AsyncConnectionPool
from qstash import AsyncQStash
from standardwebhooks import Webhook

from domain.commands import Cancel
from domain.kinds import KindConfig, create_job
from projections.log import Metadata
from service.broker import BrokerConfig, create_broker
from service.clock import now
from service.jobs.command_handler import handle
from service.local_broker import LOST_NOTE, resend_lost_notifications
from service.notifications.secrets import SecretBox, new_secret
from service.qstash.client import qstash_client
from service.qstash.notify_relay import NotificationRelay
from service.settings import Settings
from service.store import webhooks
from tests.service.broker.conftest import Destination, serve

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
BOX = SecretBox(Fernet.generate_key())
ROW = "SELECT sent_at, message_id, delivered_at, failed_at, last_error FROM notifications WHERE stream_id = %(s)s"


@pytest.fixture
async def destination() -> AsyncIterator[Destination]:
    """The receiver of notifications and of QStash's callbacks (answered, not recorded in the database)."""
    destination = Destination()
    async with serve(destination) as url:
        destination.base_url = url
        yield destination


async def client_of(url: str) -> AsyncQStash:
    return qstash_client(BrokerConfig().token, url, local_broker=True)


async def finished_job(pool: AsyncConnectionPool, notify_url: str) -> UUID:
    stream_id, meta = uuid4(), Metadata(actor="ada")
    await handle(pool, stream_id, create_job("crawl", KindConfig(), owner="ada", at=T0, notify_url=notify_url), meta)
    await handle(pool, stream_id, Cancel(at=T0 + timedelta(seconds=1)), meta)
    return stream_id


async def row(pool: AsyncConnectionPool, stream_id: UUID) -> tuple:
    async with pool.connection() as conn:
        return await (await conn.execute(ROW, {"s": stream_id})).fetchone()


async def test_a_notification_held_by_a_killed_local_broker_is_sent_again_by_the_next_one_and_only_it(
    pool: AsyncConnectionPool, database_url: str, destination: Destination
) -> None:
    secret = new_secret()
    async with pool.connection() as conn:
        await webhooks.set_notify_secret(conn, "ada", BOX.seal(secret))
    settings = Settings(public_url=destination.base_url)  # QStash's callbacks land there, unrecorded
    destination.answer("/hook", (503, {}))  # the first broker never gets it through
    lost = await finished_job(pool, destination.url("/hook"))

    # The first broker takes it, tries once, and dies waiting to retry (its queue is in memory).
    async with serve(create_broker(BrokerConfig())) as first_url:
        first = await client_of(first_url)
        assert await NotificationRelay(pool, first, settings, BOX).publish_pending() == 1
        await destination.wait_for("/hook", 1)
        await first.http._client.aclose()
    sent_at, old_message_id, *_ = await row(pool, lost)
    assert sent_at is not None and old_message_id

    since = now()  # `serve` notes it before its broker takes anything
    destination.answer("/hook", (204, {}))
    async with serve(create_broker(BrokerConfig())) as second_url:
        second = await client_of(second_url)
        relay = NotificationRelay(pool, second, settings, BOX)
        assert await resend_lost_notifications(database_url, second, since) == 1
        assert await row(pool, lost) == (None, None, None, None, LOST_NOTE)

        assert await relay.publish_pending() == 1
        delivered = await destination.wait_for("/hook", 2)
        published_here = await finished_job(pool, destination.url("/hook"))
        assert await relay.publish_pending() == 1
        await destination.wait_for("/hook", 3)
        # Both rows are now the second broker's: neither is taken for lost.
        assert await resend_lost_notifications(database_url, second, since) == 0
        await second.http._client.aclose()

    first_try, resent = delivered
    assert resent.headers["webhook-id"] == first_try.headers["webhook-id"]
    assert Webhook(secret).verify(resent.body, resent.headers)["id"] == str(lost)
    assert (await row(pool, lost))[1] not in (None, old_message_id)
    assert (await row(pool, published_here))[4] is None
