"""The outbox relay: publish queued runs to QStash, exactly once in effect.

Rows are claimed with FOR UPDATE SKIP LOCKED, so any number of relays (one per
service process) share the work without sending a row twice concurrently. A row is
marked sent in the same transaction that claimed it, after QStash accepted it; a crash
between the two leaves it unsent and it is published again, which QStash drops as a
duplicate by its deduplication id (job, requeue generation, run). The relay wakes on
its process's EventFeed doorbell (rung by this process's appends at once, and by
others' through NOTIFY) and polls as a fallback.
"""

import asyncio
import contextlib
import logging
import math
from collections.abc import Mapping
from uuid import UUID

from psycopg_pool import AsyncConnectionPool
from qstash import AsyncQStash

from service.jobs.kinds import Kind
from service.store import outbox
from service.store.outage import DatabaseUnavailable, Outage

logger = logging.getLogger("jobtrail.relay")

BATCH = 50


class Relay:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        client: AsyncQStash,
        kinds: Mapping[str, Kind],
        public_url: str,
        outage: Outage | None = None,
    ) -> None:
        self.pool, self.client, self.kinds = pool, client, kinds
        self.outage = outage or Outage()
        self.run_url = f"{public_url.rstrip('/')}/qstash/run"
        self.failed_url = f"{public_url.rstrip('/')}/qstash/failed"

    async def publish_pending(self, limit: int = BATCH) -> int:
        """One round: publish up to `limit` unsent rows; returns how many were sent."""
        sent = 0
        async with self.pool.connection() as conn, conn.transaction():
            rows = await outbox.claim_unsent(conn, limit)
            for row_id, job_id, run, deduplication_id, delay_s, kind in rows:
                try:
                    message_id = await self._publish(job_id, run, deduplication_id, delay_s, kind)
                except Exception as error:  # QStash unreachable or refusing: keep the row, retry later
                    logger.warning(
                        "publishing run %s of job %s failed: %s",
                        run,
                        job_id,
                        type(error).__name__,
                        extra={"job_id": str(job_id), "run": run, "kind": kind},
                    )
                    await outbox.mark_failed(conn, row_id, f"{type(error).__name__}: {error}"[:500])
                    continue
                await outbox.mark_sent(conn, row_id, message_id)
                sent += 1
        return sent

    async def _publish(self, job_id: UUID, run: int, deduplication_id: str, delay_s: float, kind: str) -> str:
        config = self.kinds[kind].config if kind in self.kinds else None
        response = await self.client.message.publish_json(
            url=self.run_url,
            body={"job_id": str(job_id), "run": run},
            deduplication_id=deduplication_id,
            retries=config.retries if config else None,
            timeout=f"{math.ceil(config.batch_timeout_s)}s" if config else None,
            failure_callback=self.failed_url,
            delay=f"{math.ceil(delay_s)}s" if delay_s > 0 else None,
        )
        return response.message_id  # type: ignore[union-attr]

    async def run(self, doorbell: asyncio.Event, stop: asyncio.Event, poll_s: float = 1.0) -> None:
        """Publish until `stop` is set (ring `doorbell` after it), waking on `doorbell` or every `poll_s`."""
        while not stop.is_set():
            doorbell.clear()  # before the round: a row queued during it rings again
            try:
                while await self.publish_pending() == BATCH:  # a full batch: there may be more
                    pass
            except DatabaseUnavailable as error:
                self.outage.failed("the relay", error)
            except Exception:
                logger.exception("relay round failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll_s):
                    await doorbell.wait()
