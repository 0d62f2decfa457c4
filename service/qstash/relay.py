"""The outbox relay: publish queued runs to QStash, exactly once in effect.

No transaction is open while QStash is asked: a round leases up to BATCH due rows in
one statement that commits at once (service/store/outbox.py), publishes them one by
one, and then marks the accepted ones sent and backs off the failed ones in one short
transaction. Any number of relays (one per service process) share the work: a claim
skips rows another holds, and a leased row is nobody else's until its lease ends.

Each publish is bounded by `publish_timeout_s`, and the round stops starting new ones
in time to finish within its lease, handing the rows it did not get to back. A publish
that cannot reach QStash (refused, timed out) ends the round: QStash is most likely down
for the rest too, and each of them would cost a timeout. A failed row waits before its
next attempt, 1 s after the first failure, doubling up to a minute, so an outage costs
one probe per poll rather than a timeout per row per poll, and the backlog is published
within that minute of QStash's return.

Exactly once in effect: a row may be published more than once (a relay that dies after
QStash accepted a row but before marking it leaves it to be claimed again when its lease
ends; a timed-out publish may have arrived), and every publish of it carries the same
deduplication id (job, requeue generation, run), so QStash keeps the first and answers
the rest with its message id. A lease ends long before QStash's deduplication window
(ten minutes) does; a repeat later than that (a relay down for longer) is harmless too,
since a delivery of a run already recorded is a no-op (service/qstash/delivery.py).

The relay wakes on its process's EventFeed doorbell (rung by this process's appends at
once, and by others' through NOTIFY) and polls as a fallback.
"""

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Mapping
from datetime import datetime
from uuid import UUID

import httpx
from psycopg_pool import AsyncConnectionPool
from qstash import AsyncQStash

from service.jobs.kinds import Kind
from service.qstash.flow_control import flow_control
from service.store import outbox
from service.store.outage import DatabaseUnavailable, Outage

logger = logging.getLogger("jobtrail.relay")

BATCH = 50
PUBLISH_TIMEOUT_S = 5.0
LEASE_S = 15.0  # a round publishes for at most LEASE_S - PUBLISH_TIMEOUT_S
BACKOFF_FIRST_S = 1.0
BACKOFF_CAP_S = 60.0


class Relay:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        client: AsyncQStash,
        kinds: Mapping[str, Kind],
        public_url: str,
        outage: Outage | None = None,
        *,
        publish_timeout_s: float = PUBLISH_TIMEOUT_S,
        lease_s: float = LEASE_S,
    ) -> None:
        if lease_s <= publish_timeout_s:
            raise ValueError("a lease must outlast a publish")
        self.pool, self.client, self.kinds = pool, client, kinds
        self.outage = outage or Outage()
        self.publish_timeout_s, self.lease_s = publish_timeout_s, lease_s
        self.run_url = f"{public_url.rstrip('/')}/qstash/run"
        self.failed_url = f"{public_url.rstrip('/')}/qstash/failed"

    async def publish_pending(self, limit: int = BATCH, stop: asyncio.Event | None = None) -> int:
        """One round: publish up to `limit` due rows (none started once `stop` is set); returns how many were sent."""
        started = time.monotonic()
        async with self.pool.connection() as conn:
            rows, leased_until = await outbox.claim_unsent(conn, limit, self.lease_s)
        if leased_until is None:
            return 0
        last_start = started + self.lease_s - self.publish_timeout_s
        sent: dict[int, str] = {}
        failed: dict[int, str] = {}
        try:
            for row_id, job_id, run, deduplication_id, delay_s, kind, owner in rows:
                if time.monotonic() > last_start or (stop is not None and stop.is_set()):
                    break
                try:
                    async with asyncio.timeout(self.publish_timeout_s):
                        sent[row_id] = await self._publish(job_id, run, deduplication_id, delay_s, kind, owner)
                except Exception as error:  # QStash unreachable or refusing: the row waits and is tried again
                    failed[row_id] = f"{type(error).__name__}: {error}"[:500]
                    logger.warning(
                        "publishing run %s of job %s failed: %s",
                        run,
                        job_id,
                        type(error).__name__,
                        extra={"job_id": str(job_id), "run": run, "kind": kind},
                    )
                    if isinstance(error, TimeoutError | httpx.TransportError):
                        break  # unreachable: the next row would wait as long
        finally:
            untried = [row[0] for row in rows if row[0] not in sent and row[0] not in failed]
            await self._settle(sent, failed, untried, leased_until)
        return len(sent)

    async def _settle(
        self, sent: dict[int, str], failed: dict[int, str], untried: list[int], leased_until: datetime
    ) -> None:
        """Record the round in one short transaction: sent, backed off, handed back."""
        async with self.pool.connection() as conn, conn.transaction():
            if sent:
                await outbox.mark_sent(conn, sent)
            if failed:
                await outbox.mark_failed(conn, failed, leased_until, BACKOFF_FIRST_S, BACKOFF_CAP_S)
            if untried:
                await outbox.release(conn, untried, leased_until)

    async def _publish(
        self, job_id: UUID, run: int, deduplication_id: str, delay_s: float, kind: str, owner: str
    ) -> str:
        config = self.kinds[kind].config if kind in self.kinds else None
        response = await self.client.message.publish_json(
            url=self.run_url,
            body={"job_id": str(job_id), "run": run},
            deduplication_id=deduplication_id,
            retries=config.retries if config else None,
            timeout=f"{math.ceil(config.batch_timeout_s)}s" if config else None,
            failure_callback=self.failed_url,
            delay=f"{math.ceil(delay_s)}s" if delay_s > 0 else None,
            flow_control=flow_control(kind, config, owner) if config else None,
        )
        return response.message_id  # type: ignore[union-attr]

    async def run(self, doorbell: asyncio.Event, stop: asyncio.Event, poll_s: float = 1.0) -> None:
        """Publish until `stop` is set (ring `doorbell` after it), waking on `doorbell` or every `poll_s`."""
        while not stop.is_set():
            doorbell.clear()  # before the round: a row queued during it rings again
            try:
                while await self.publish_pending(stop=stop) == BATCH:  # a full batch: there may be more
                    pass
            except DatabaseUnavailable as error:
                self.outage.failed("the relay", error)
            except Exception:
                logger.exception("relay round failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll_s):
                    await doorbell.wait()
