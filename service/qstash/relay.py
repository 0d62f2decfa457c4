"""The outbox relay: publish queued runs to QStash, exactly once in effect.

No transaction is open while QStash is asked: a round leases up to BATCH due rows in
one statement that commits at once (service/store/outbox.py), publishes them in
requests of up to `batch_max` runs each, and then marks the accepted ones sent and
backs off the failed ones in one short transaction. Any number of relays (one per
service process) share the work: a claim skips rows another holds, and a leased row
is nobody else's until its lease ends.

A request of several runs is one `POST /v2/batch` (service/qstash/batch_publish.py),
each message carrying exactly what a publish of its run alone carries; a request of
one run is a plain publish. QStash answers a batch message by message: a run it
refuses alone is backed off alone, and the others are marked sent.

Each request is bounded by `publish_timeout_s`, and the round starts no new one after
`lease_s - publish_timeout_s`, so it ends within its lease, handing back the rows it did
not get to. A request that fails as a whole backs off every run in it. One that cannot
reach QStash (refused, timed out) also ends the round: QStash is most likely down for
the rest too, and each further request would cost a timeout. A failed row waits before
its next attempt, 1 s after the first failure, doubling up to a minute, so an outage
costs one probe per poll rather than a timeout per request per poll, and the backlog is
published within that minute of QStash's return.

Exactly once in effect: a run may be published more than once (a relay that dies after
QStash accepted a request but before marking its rows leaves them to be claimed again
when its lease ends; a timed-out request, or one whose answer could not be read, may
have arrived), and every publish of a run, alone or in a batch, carries the same
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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast
from uuid import UUID

import httpx
from psycopg_pool import AsyncConnectionPool
from qstash import AsyncQStash
from qstash.message import BatchJsonRequest

from service.jobs.kinds import Kind
from service.qstash.batch_publish import MAX_MESSAGES, Accepted, Refused, publish_batch
from service.qstash.flow_control import flow_control
from service.store import outbox
from service.store.outage import DatabaseUnavailable, Outage

logger = logging.getLogger("jobtrail.relay")

BATCH = MAX_MESSAGES  # rows a round leases: one full batch request
PUBLISH_TIMEOUT_S = 5.0
LEASE_S = 15.0  # a round publishes for at most LEASE_S - PUBLISH_TIMEOUT_S
BACKOFF_FIRST_S = 1.0
BACKOFF_CAP_S = 60.0


@dataclass
class Published:
    """What became of a round's rows so far: sent (row id -> message id) or failed (-> error)."""

    sent: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)


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
        batch_max: int = MAX_MESSAGES,
    ) -> None:
        if lease_s <= publish_timeout_s:
            raise ValueError("a lease must outlast a publish")
        if not 1 <= batch_max <= MAX_MESSAGES:
            raise ValueError(f"batch_max must be 1 to {MAX_MESSAGES}")
        self.pool, self.client, self.kinds = pool, client, kinds
        self.outage = outage or Outage()
        self.publish_timeout_s, self.lease_s, self.batch_max = publish_timeout_s, lease_s, batch_max
        self.run_url = f"{public_url.rstrip('/')}/qstash/run"
        self.failed_url = f"{public_url.rstrip('/')}/qstash/failed"

    async def publish_pending(self, limit: int = BATCH, stop: asyncio.Event | None = None) -> int:
        """One round: publish up to `limit` due rows (none started once `stop` is set); returns how many were sent."""
        started = time.monotonic()
        async with self.pool.connection() as conn:
            rows, leased_until = await outbox.claim_unsent(conn, limit, self.lease_s)
        if leased_until is None:
            return 0
        published = Published()
        try:
            await self.publish_runs(rows, published, started + self.lease_s - self.publish_timeout_s, stop)
        finally:
            tried = published.sent.keys() | published.failed.keys()
            untried = [row[0] for row in rows if row[0] not in tried]
            await self._settle(published.sent, published.failed, untried, leased_until)
        return len(published.sent)

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

    # --- publishing runs (the outbox's rows), alone or in batches ----------------------------

    async def publish_runs(
        self,
        rows: list[outbox.Claimed],
        published: Published,
        last_start: float = math.inf,
        stop: asyncio.Event | None = None,
    ) -> None:
        """Publish leased rows, `batch_max` a request, none started after `last_start`
        (monotonic) or once `stop` is set; each outcome lands in `published` as it comes."""
        for first in range(0, len(rows), self.batch_max):
            if time.monotonic() > last_start or (stop is not None and stop.is_set()):
                return
            request = rows[first : first + self.batch_max]
            try:
                async with asyncio.timeout(self.publish_timeout_s):
                    outcomes = await self._publish_request(request)
            except Exception as error:  # QStash unreachable or refusing: every row of it waits and is tried again
                reason = f"{type(error).__name__}: {error}"[:500]
                published.failed.update((row[0], reason) for row in request)
                self._log_failure(request, type(error).__name__)
                if isinstance(error, TimeoutError | httpx.TransportError):
                    return  # unreachable: the next request would wait as long
                continue
            for row, outcome in zip(request, outcomes, strict=True):
                if isinstance(outcome, Accepted):
                    published.sent[row[0]] = outcome.message_id
                else:  # refused alone: only this run waits
                    published.failed[row[0]] = f"refused in a batch: {outcome.error}"[:500]
                    self._log_failure([row], "refused in a batch")

    async def _publish_request(self, rows: list[outbox.Claimed]) -> list[Accepted | Refused]:
        messages = [self._message(*row[1:]) for row in rows]
        if len(messages) > 1:
            return await publish_batch(self.client, messages)
        # A batch message's keys are publish_json's keyword arguments (`queue` aside, never set here).
        response = await self.client.message.publish_json(**cast(dict[str, Any], messages[0]))
        return [Accepted(response.message_id)]  # type: ignore[union-attr]

    def _message(
        self, job_id: UUID, run: int, deduplication_id: str, delay_s: float, kind: str, owner: str
    ) -> BatchJsonRequest:
        """A run's message: the same whether it is published alone or in a batch."""
        message = BatchJsonRequest(
            url=self.run_url,
            body={"job_id": str(job_id), "run": run},
            deduplication_id=deduplication_id,
            failure_callback=self.failed_url,
        )
        if delay_s > 0:
            message["delay"] = f"{math.ceil(delay_s)}s"
        config = self.kinds[kind].config if kind in self.kinds else None
        if config is not None:
            message["retries"] = config.retries
            message["timeout"] = f"{math.ceil(config.batch_timeout_s)}s"
            if limits := flow_control(kind, config, owner):
                message["flow_control"] = limits
        return message

    @staticmethod
    def _log_failure(rows: list[outbox.Claimed], why: str) -> None:
        _, job_id, run, _, _, kind, _ = rows[0]
        more = f" and {len(rows) - 1} more" if len(rows) > 1 else ""
        logger.warning(
            "publishing run %s of job %s%s failed: %s",
            run,
            job_id,
            more,
            why,
            extra={"job_id": str(job_id), "run": run, "kind": kind},
        )

    # --- end of publishing runs ------------------------------------------------------------

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
