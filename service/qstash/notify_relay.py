"""The notification relay: sign each queued notification and publish it through QStash.

Rows are queued with a job's final event (or an alert) and leased here like the outbox's
(service/store/notifications.py): a claim commits at once, no transaction is open while
QStash is asked, and any number of processes share the rows. Just before a publish the
target is checked again (a name may resolve elsewhere since it was given) and the body
is signed the Standard Webhooks way with the endpoint's secret, decrypted for the moment.

QStash then owns delivery: retries with backoff, a per-attempt timeout (a slow endpoint
holds nobody of ours), a callback after every attempt (recorded as the attempt's outcome)
and a failure callback once retries are exhausted (the DLQ). The deduplication id names
the row, so a publish repeated after a crash is kept once by QStash.

The signature's timestamp is the publish's, and QStash's retries repeat the headers as
they are. Standard Webhooks receivers refuse a timestamp more than 5 minutes old, so
the retry schedule is bounded to finish well inside that: 5 retries 2, 4, 8, 16 and 32 s
apart, each attempt timed out after 15 s, at most about two and a half minutes in all.
"""

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

import httpx
from psycopg_pool import AsyncConnectionPool
from qstash import AsyncQStash
from standardwebhooks import Webhook

from service.notifications.secrets import SecretBox, UnreadableSecret
from service.notifications.targets import RefusedTarget, check_target
from service.settings import Settings
from service.store import notifications, webhooks
from service.store.notifications import Claimed
from service.store.outage import DatabaseUnavailable

logger = logging.getLogger("jobtrail.notify")

BATCH = 20
LEASE_S = 30.0
PUBLISH_TIMEOUT_S = 5.0
RETRIES = 5
RETRY_DELAY = "min(32000, 2000 * pow(2, retried))"  # milliseconds; `retried` is 0 before the first retry
ATTEMPT_TIMEOUT = "15s"
MIN_PAUSE_S = 0.05


class NotificationRelay:
    def __init__(self, pool: AsyncConnectionPool, client: AsyncQStash, settings: Settings, box: SecretBox) -> None:
        self.pool, self.client, self.settings, self.box = pool, client, settings, box
        self.callback_url = f"{settings.base_url}/qstash/notified"
        self.failed_url = f"{settings.base_url}/qstash/notify-failed"

    async def publish_pending(self, limit: int = BATCH) -> int:
        """One round: sign and publish up to `limit` due notifications; how many QStash took."""
        started = time.monotonic()
        async with self.pool.connection() as conn:
            rows, leased_until = await notifications.claim_unsent(conn, limit, LEASE_S)
        sent = 0
        for row in rows:
            if time.monotonic() - started > LEASE_S - PUBLISH_TIMEOUT_S:
                break  # the rest go back to the pool when the lease ends
            assert leased_until is not None
            sent += await self._send(row, leased_until)
        return sent

    async def _send(self, row: Claimed, leased_until: datetime) -> int:
        try:
            await check_target(
                row.url, development=self.settings.development, allow_private=self.settings.allow_private_webhooks
            )
            secret = await self._secret(row)
        except (RefusedTarget, UnreadableSecret) as error:
            async with self.pool.connection() as conn:
                await notifications.mark_refused(conn, row.id, f"not sent: {error}")
            logger.warning("notification %s not sent: %s", row.webhook_id, error)
            return 0
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                message_id = await self._publish(row, secret)
        except Exception as error:  # QStash unreachable or refusing: the row waits and is tried again
            async with self.pool.connection() as conn:
                await notifications.mark_unpublished(conn, row.id, f"{type(error).__name__}"[:200], leased_until)
            logger.warning("publishing notification %s failed: %s", row.webhook_id, type(error).__name__)
            return 0
        async with self.pool.connection() as conn:
            await notifications.mark_sent(conn, row.id, message_id)
        return 1

    async def _secret(self, row: Claimed) -> str:
        if row.signed_with == "alert":
            if self.settings.alert_secret is None:
                raise UnreadableSecret("JOBTRAIL_ALERT_SECRET is unset")
            return self.settings.alert_secret
        async with self.pool.connection() as conn:
            if row.signed_with == "endpoint":
                assert row.endpoint_id is not None
                sealed = await webhooks.endpoint_secret(conn, row.endpoint_id)
                missing = "its endpoint was deleted"
            else:
                assert row.owner is not None
                sealed = await webhooks.notify_secret(conn, row.owner)
                missing = "the owner has no notify_url secret"
        if sealed is None:
            raise UnreadableSecret(missing)
        return self.box.open(sealed)

    async def _publish(self, row: Claimed, secret: str) -> str:
        at = datetime.now(UTC)
        signature = Webhook(secret).sign(row.webhook_id, at, row.body)
        response = await self.client.message.publish(
            url=row.url,
            body=row.body,
            content_type="application/json",
            headers={
                "webhook-id": row.webhook_id,
                "webhook-timestamp": str(int(at.timestamp())),
                "webhook-signature": signature,
            },
            retries=RETRIES,
            retry_delay=RETRY_DELAY,
            timeout=ATTEMPT_TIMEOUT,
            callback=self.callback_url,
            failure_callback=self.failed_url,
            deduplication_id=f"notification-{row.id}",
        )
        return response.message_id  # type: ignore[union-attr]

    async def run(self, doorbell: asyncio.Event, stop: asyncio.Event, poll_s: float = 1.0) -> None:
        """Publish until `stop`, waking with the outbox's doorbell (rung by final events too) or every `poll_s`.

        The outbox relay clears the doorbell; this one only listens, pausing briefly between rounds."""
        while not stop.is_set():
            try:
                while await self.publish_pending() == BATCH:
                    pass
            except DatabaseUnavailable:
                pass  # the outbox relay reports the outage
            except (httpx.TransportError, OSError):
                logger.warning("notification round could not reach the database or QStash")
            except Exception:
                logger.exception("notification round failed")
            await asyncio.sleep(MIN_PAUSE_S)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll_s):
                    await doorbell.wait()
