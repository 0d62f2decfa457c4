"""Whether deliveries sent to the public URL reach this service: a signed probe through QStash.

A wrong JOBTRAIL_PUBLIC_URL breaks every job without an error anywhere: the relay
publishes, QStash delivers somewhere else (to nothing, or to another service that
answers), and jobs stay pending. So each serving process publishes a probe, a random
nonce, to `<public URL>/qstash/probe` through the QStash its runs go through, with no
retries. Whichever process of this service receives it checks its signature like any
delivery and records the nonce in the database: behind a load balancer another host
may get it, and it counts all the same, since it shares this database. The prober
watches for its nonce and asks QStash whether it still holds the message. Once QStash
has let go of it (delivered, or given up) and nobody recorded it, the deliveries go
elsewhere: that is known at once, not after a timeout. A message still held after
`wait_s` counts as failed too. A probe that arrives late still counts: every check looks
for all the nonces this process sent.

A failed probe makes the health verdict unhealthy, and /readyz says why while staying
200: the probe travels through the load balancer, and an instance it took out of
service on this ground would never see a probe arrive again. While probes fail they are
sent again after `retry_s`, doubling up to `max_retry_s`; the first that arrives ends
the checking. A QStash that does not take the probe is down, which the schedule keeper
reports; the probe is tried again later and nothing is concluded meanwhile.
"""

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Literal

import httpx
import msgspec
from psycopg_pool import AsyncConnectionPool
from qstash import AsyncQStash
from qstash.errors import QStashError

from service.clock import now
from service.qstash.message_state import held
from service.store import delivery_probes
from service.store.outage import DatabaseUnavailable

logger = logging.getLogger("jobtrail.qstash")

ROUTE = "/qstash/probe"
NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
WAIT_S = 30.0
POLL_S = 0.1
RETRY_S = 30.0
MAX_RETRY_S = 1800.0


class ProbeHealth(msgspec.Struct, frozen=True, omit_defaults=True):
    state: Literal["checking", "ok", "failed"]
    since: datetime  # when it entered this state
    reason: str | None = None  # while failed: what the last probe met


class ProbeStatus:
    """The last probe's verdict, for /readyz and the health verdict; a change is logged once."""

    def __init__(self, clock: Callable[[], datetime] = now) -> None:
        self.clock = clock
        self.health = ProbeHealth(state="checking", since=clock())

    def arrived(self, url: str) -> None:
        if self.health.state == "failed":
            logger.warning("deliveries to %s reach this service again", url)
        else:
            logger.info("deliveries to %s reach this service (a signed probe arrived)", url)
        self.health = ProbeHealth(state="ok", since=self.clock())

    def failed(self, url: str, why: str) -> None:
        reason = f"deliveries sent to {url} do not reach this service: {why}"
        if self.health.state != "failed":
            logger.warning("%s; set JOBTRAIL_PUBLIC_URL to the address QStash reaches this service at", reason)
            self.health = ProbeHealth(state="failed", since=self.clock(), reason=reason)
        elif reason != self.health.reason:
            self.health = msgspec.structs.replace(self.health, reason=reason)


class SelfProbe:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        client: AsyncQStash,
        base_url: str,
        status: ProbeStatus,
        *,
        wait_s: float = WAIT_S,
        retry_s: float = RETRY_S,
        max_retry_s: float = MAX_RETRY_S,
    ) -> None:
        self.pool, self.client, self.base_url, self.status = pool, client, base_url, status
        self.wait_s, self.retry_s, self.max_retry_s = wait_s, retry_s, max_retry_s
        self.nonces: list[str] = []

    async def run(self, stop: asyncio.Event) -> None:
        """Probe until one arrives or `stop` is set; then forget this process's nonces."""
        pause_s = self.retry_s
        try:
            while not stop.is_set():
                outcome = await self.probe()
                if outcome == "arrived":
                    return
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause_s):
                        await stop.wait()
                if outcome == "failed":
                    pause_s = min(pause_s * 2, self.max_retry_s)
        finally:
            await self._forget()

    async def probe(self) -> Literal["arrived", "failed", "unknown"]:
        """Send one probe and wait for its fate; the status is told unless it stays unknown."""
        nonce = secrets.token_urlsafe(24)
        self.nonces.append(nonce)
        try:
            published = await self.client.message.publish_json(
                url=f"{self.base_url}{ROUTE}", body={"nonce": nonce}, retries=0
            )
            message_id: str = published.message_id  # type: ignore[union-attr]
            outcome = await self._watch(message_id)
        except (QStashError, httpx.HTTPError, DatabaseUnavailable, TimeoutError) as error:
            logger.debug("the delivery probe could not be sent or watched (%s)", type(error).__name__)
            return "unknown"
        if outcome is None:
            self.status.arrived(self.base_url)
            return "arrived"
        self.status.failed(self.base_url, outcome)
        return "failed"

    async def _watch(self, message_id: str) -> str | None:
        """None once a nonce of ours is recorded, else why the probe failed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        while loop.time() < deadline:
            if await self._arrived():
                return None
            if not await self._held(message_id):
                # A receiver records the nonce before it answers, so one more look settles it.
                if await self._arrived():
                    return None
                return "QStash delivered a signed probe there (or gave up on it), and no process of this service got it"
            await asyncio.sleep(POLL_S)
        return f"a signed probe sent there through QStash did not arrive within {self.wait_s:.0f} s"

    async def _arrived(self) -> bool:
        async with self.pool.connection() as conn:
            return await delivery_probes.any_arrived(conn, self.nonces)

    async def _held(self, message_id: str) -> bool:
        return await held(self.client, message_id)

    async def _forget(self) -> None:
        if not self.nonces:
            return
        with contextlib.suppress(Exception):  # stopping: leftovers age out within the hour
            async with asyncio.timeout(2), self.pool.connection() as conn:
                await delivery_probes.forget(conn, self.nonces)
